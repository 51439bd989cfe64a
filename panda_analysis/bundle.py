"""Evidence bundles (``panda-bundle/1``): open a directory or ``.tar.gz``, list it, write one.

A bundle is a directory that anyone can also build by hand with kubectl and curl
(layout in DESIGN.md and the README). Every part is optional: a missing part is "no
evidence", never an error. Archives are read defensively: no member may escape the
bundle (absolute paths, ``..``, links, devices), and member count and sizes are capped.

Examples
--------
>>> import panda_analysis as pa
>>> bundle = pa.load_bundle("sample:healthy")
>>> bundle.format
'panda-bundle/1'
>>> "focus" in set(bundle.inventory()["part"])
True
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import shutil
import stat
import tarfile
import weakref
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeGuard, cast

import pandas as pd

from panda_analysis._lines import LogFile, NotRegularFileError, log_identity, open_regular
from panda_analysis._procs import make_temp_dir, remove_temp
from panda_analysis._time import to_utc
from panda_analysis.errors import BundleError

if TYPE_CHECKING:
    from panda_analysis.schema import Frames

__all__ = ["FORMAT", "Bundle", "BundleWriter", "TarLimits", "is_bundle", "load_bundle"]

log = logging.getLogger(__name__)

#: The bundle format this version reads and writes.
FORMAT = "panda-bundle/1"

#: Log families, tried in order against the pod name (or the file name when the path
#: does not follow ``logs/<namespace>/<pod>/<container>.log``). The manifest may add
#: ``"log_families": {"<glob on the relative path>": "<family>"}`` to override.
LOG_FAMILIES: tuple[tuple[str, str], ...] = (
    ("*ingress-nginx*", "ingress"),
    ("*ingress*controller*", "ingress"),
    ("*focus-server*", "focus"),
    ("*focus_server*", "focus"),
    ("rabbitmq*", "rabbitmq_log"),
    ("grpc-job-*", "analyzer"),
)
_FAMILIES = ("ingress", "focus", "rabbitmq_log", "analyzer", "other_logs")

#: Inventory rows that list files instead of describing a part (see :meth:`Bundle.inventory`).
LISTINGS = ("unrecognised", "refused")

#: Fixed-path parts: frame name → files (globs relative to the bundle root).
FILE_PARTS: dict[str, tuple[str, ...]] = {
    "pods": ("k8s/pods.json",),
    "restarts": ("k8s/pods.json",),
    "events": ("k8s/events.json",),
    "jobs": ("k8s/jobs.json",),
    "services": ("k8s/services.json",),
    "endpoints": ("k8s/endpoints.json",),
    "pods_text": ("k8s/pods.txt", "k8s/pods*.txt"),
    "live_metadata": ("http/focus/live_metadata.jsonl",),
    "job_metadata": ("http/focus/job_metadata.jsonl",),
    "queues": ("rabbitmq/snapshots.jsonl",),
    "consumers": ("rabbitmq/snapshots.jsonl",),
    "rabbitmq_overview": ("rabbitmq/snapshots.jsonl",),
    "mongo": ("mongo/*.jsonl",),
}
#: Frames read from log files of a family (ingress_messages shares the ingress files).
LOG_PARTS: dict[str, str] = {
    "ingress": "ingress",
    "ingress_messages": "ingress",
    "focus": "focus",
    "rabbitmq_log": "rabbitmq_log",
    "analyzer": "analyzer",
    "other_logs": "other_logs",
}


@dataclass(frozen=True, slots=True)
class TarLimits:
    """Caps applied when reading a ``.tar.gz`` bundle (defaults suit incident evidence)."""

    max_members: int = 50_000
    max_member_bytes: int = 1 << 30  # 1 GiB for one file
    max_total_bytes: int = 4 << 30  # 4 GiB unpacked in all


def _safe_member_name(archive: Path, member: tarfile.TarInfo) -> PurePosixPath:
    name = PurePosixPath(member.name)
    if name.is_absolute() or member.name.startswith(("/", "\\")) or ":" in name.parts[0]:
        msg = f"{archive}: member {member.name!r} has an absolute path; refusing to read this archive"
        raise BundleError(msg)
    if ".." in name.parts:
        msg = f"{archive}: member {member.name!r} escapes the bundle with '..'; refusing to read this archive"
        raise BundleError(msg)
    if member.issym() or member.islnk():
        msg = f"{archive}: member {member.name!r} is a link (to {member.linkname!r}); bundles hold plain files only"
        raise BundleError(msg)
    if not (member.isfile() or member.isdir()):
        msg = f"{archive}: member {member.name!r} is a device, FIFO or other special file; bundles hold plain files only"
        raise BundleError(msg)
    return name


def _extract_tar(archive: Path, dest: Path, limits: TarLimits) -> None:
    """Extract ``archive`` into ``dest`` after checking every member (no escapes, caps)."""
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            total = 0
            count = 0
            for member in tar:
                count += 1
                if count > limits.max_members:
                    msg = f"{archive}: more than {limits.max_members} members; is this really an evidence bundle?"
                    raise BundleError(msg)
                name = _safe_member_name(archive, member)
                target = dest.joinpath(*name.parts) if name.parts else dest
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                if member.size > limits.max_member_bytes:
                    msg = f"{archive}: member {member.name!r} is {member.size} bytes, over the {limits.max_member_bytes}-byte cap"
                    raise BundleError(msg)
                total += member.size
                if total > limits.max_total_bytes:
                    msg = f"{archive}: unpacks to more than {limits.max_total_bytes} bytes; over the cap"
                    raise BundleError(msg)
                target.parent.mkdir(parents=True, exist_ok=True)
                extracted = tar.extractfile(member)
                if extracted is None:  # pragma: no cover - regular files always have data
                    continue
                with extracted, open(target, "wb") as out:
                    shutil.copyfileobj(extracted, out, length=1 << 20)
    except BundleError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        msg = f"{archive}: corrupt or truncated archive ({err}); re-create it with `tar czf`"
        raise BundleError(msg) from err


#: Largest manifest read (a manifest is a few kB; anything bigger is not one).
MAX_MANIFEST_BYTES = 1 << 20


def _bundle_root(path: Path) -> Path:
    """The directory holding the bundle: ``path`` itself or its single top-level folder.

    The folder is taken only when it is a real directory (not a link), so the root never
    leaves what was opened.
    """
    if os.path.lexists(path / "manifest.json"):
        return path
    try:
        children = [c for c in path.iterdir() if not c.name.startswith(".")]
    except OSError as err:
        msg = f"{path}: cannot list this directory ({err.strerror})"
        raise BundleError(msg) from err
    if len(children) == 1 and children[0].is_dir() and not children[0].is_symlink():
        inner = children[0]
        if os.path.lexists(inner / "manifest.json") or any((inner / part).is_dir() for part in ("k8s", "logs", "http", "rabbitmq", "mongo")):
            return inner
    return path


def _read_manifest(root: Path, shown: str) -> dict[str, Any]:
    path = root / "manifest.json"
    if not os.path.lexists(path):
        return {}
    where = f"{shown}/manifest.json"
    if path.is_symlink():
        msg = f"{where}: is a link; a bundle's manifest must be a plain file"
        raise BundleError(msg)
    try:
        with open_regular(path) as handle:
            data = handle.read(MAX_MANIFEST_BYTES + 1)
    except NotRegularFileError as err:
        msg = f"{where}: {err.strerror}; a bundle's manifest must be a plain JSON file"
        raise BundleError(msg) from err
    except OSError as err:
        msg = f"{where}: cannot read ({err.strerror})"
        raise BundleError(msg) from err
    if len(data) > MAX_MANIFEST_BYTES:
        msg = f"{where}: over {MAX_MANIFEST_BYTES} bytes; that is not a bundle manifest"
        raise BundleError(msg)
    try:
        manifest = json.loads(data.decode("utf-8"))
    except RecursionError as err:
        msg = f"{where}: JSON nested too deeply"
        raise BundleError(msg) from err
    except UnicodeDecodeError as err:
        msg = f"{where}: not UTF-8 text ({err})"
        raise BundleError(msg) from err
    except json.JSONDecodeError as err:
        msg = f"{where}: line {err.lineno} column {err.colno}: malformed JSON ({err.msg})"
        raise BundleError(msg) from err
    if not isinstance(manifest, dict):
        msg = f"{where}: must be a JSON object, got {type(manifest).__name__}"
        raise BundleError(msg)
    fmt = manifest.get("format")
    if fmt is None:
        msg = f'{where}: no "format" field; add "format": "{FORMAT}"'
        raise BundleError(msg)
    if fmt != FORMAT:
        msg = f"{where}: unknown bundle format {fmt!r}; this version of panda_analysis reads {FORMAT!r}"
        raise BundleError(msg)
    created = manifest.get("created_at")
    if created is not None:
        try:
            if not isinstance(created, str):
                raise TypeError(created)
            to_utc(pd.to_datetime(created, utc=True, format="ISO8601"))
        except (ValueError, TypeError, OverflowError, pd.errors.OutOfBoundsDatetime) as err:
            msg = f"{where}: created_at {created!r} is not an ISO-8601 time"
            raise BundleError(msg) from err
    families = manifest.get("log_families", {})
    if not isinstance(families, dict) or not all(isinstance(v, str) and v in _FAMILIES for v in families.values()):
        msg = f"{where}: log_families must map globs to one of {list(_FAMILIES)}"
        raise BundleError(msg)
    return manifest


class Bundle:
    """An opened evidence bundle.

    Use :func:`load_bundle` (or :meth:`Bundle.open`) rather than the constructor. A
    ``.tar.gz`` is unpacked (safely) into a private temporary directory that lives as
    long as the Bundle object.

    Attributes
    ----------
    root
        Directory holding ``manifest.json`` and the parts.
    origin
        What was opened, as the user named it (path or ``sample:<name>``).
    manifest
        The manifest as a dict (empty when the bundle has none, e.g. built by hand).
    """

    def __init__(self, root: Path, *, origin: str, manifest: Mapping[str, Any], tmp: Path | None = None):
        self.root = root
        self.origin = origin
        self.manifest: dict[str, Any] = dict(manifest)
        self._frames: Frames | None = None
        self._walked: tuple[list[str], dict[str, Path], list[tuple[str, str]]] | None = None
        if tmp is not None:
            self._finalizer = weakref.finalize(self, remove_temp, tmp)

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | os.PathLike[str], *, limits: TarLimits | None = None) -> Bundle:
        """Open a bundle directory, a ``.tar.gz`` of one, or ``sample:<name>``."""
        text = os.fspath(path)
        if not text.strip():
            msg = "no bundle given (an empty path); give a directory, a .tar.gz, or sample:<name>"
            raise BundleError(msg)
        if text.startswith("sample:"):
            from panda_analysis import samples

            root = samples.path(text.removeprefix("sample:"))
            return cls(root, origin=text, manifest=_read_manifest(root, text))
        location = Path(text).expanduser()
        if not location.exists():
            msg = f"{text}: no such bundle (give a directory, a .tar.gz, or sample:<name>)"
            raise BundleError(msg)
        if location.is_dir():
            root = _bundle_root(location)
            return cls(root, origin=text, manifest=_read_manifest(root, text))
        try:  # a FIFO or device given as the bundle must not block the run
            with open_regular(location) as handle:
                is_tar = tarfile.is_tarfile(handle)
        except OSError as err:
            msg = f"{text}: cannot read ({err.strerror}); give a directory, a .tar.gz, or sample:<name>"
            raise BundleError(msg) from err
        if not is_tar:
            msg = f"{text}: neither a bundle directory nor a tar archive"
            raise BundleError(msg)
        # pid-tagged, removed at exit and on SIGTERM, swept by the next run after a SIGKILL
        tmp = make_temp_dir("panda-bundle-")
        try:
            _extract_tar(location, tmp, limits or TarLimits())
            root = _bundle_root(tmp)
            manifest = _read_manifest(root, text)
        except BaseException:
            remove_temp(tmp)
            raise
        return cls(root, origin=text, manifest=manifest, tmp=tmp)

    # ----------------------------------------------------------------- facts
    @property
    def format(self) -> str:
        """The bundle format (``panda-bundle/1``; assumed when there is no manifest)."""
        return str(self.manifest.get("format", FORMAT))

    @property
    def created_at(self) -> pd.Timestamp | None:
        """When the evidence was collected (manifest ``created_at``), UTC."""
        value = self.manifest.get("created_at")
        return to_utc(pd.to_datetime(value, utc=True, format="ISO8601")) if value else None

    def __repr__(self) -> str:
        return f"Bundle({self.origin!r}, format={self.format!r}, created_at={self.manifest.get('created_at')!r})"

    def _walk(self) -> tuple[list[str], dict[str, Path], list[tuple[str, str]]]:
        """Files, their real paths, and refused entries (walked once, then cached).

        Links are followed only when their target is a regular file inside the bundle
        root; a link that leaves the root, a link to a directory, and anything that is not
        a regular file (FIFO, socket, device) is refused with its reason, never read.
        """
        if self._walked is not None:
            return self._walked
        files: list[str] = []
        real: dict[str, Path] = {}
        refused: list[tuple[str, str]] = []
        try:
            top = self.root.resolve(strict=True)
        except OSError as err:
            msg = f"{self.origin}: cannot open the bundle directory ({err.strerror})"
            raise BundleError(msg) from err

        def failed(err: OSError) -> None:  # an unlistable directory is listed, not fatal
            where = Path(err.filename or "").relative_to(self.root) if err.filename else Path()
            refused.append((where.as_posix() + "/", f"cannot list this directory ({err.strerror})"))

        for dirpath, dirnames, filenames in os.walk(self.root, onerror=failed, followlinks=False):
            here = Path(dirpath)
            for name in sorted(dirnames):  # links to directories are not descended
                if (here / name).is_symlink():
                    refused.append(((here / name).relative_to(self.root).as_posix(), "a link to a directory"))
            for name in filenames:
                path = here / name
                rel = path.relative_to(self.root).as_posix()
                reason, target = _classify(path, top)
                if reason is not None:
                    refused.append((rel, reason))
                elif rel not in {"manifest.json", "README.md"}:
                    files.append(rel)
                    real[rel] = target
        files.sort()
        refused.sort()
        self._walked = (files, real, refused)
        return self._walked

    def files(self) -> list[str]:
        """Every file in the bundle, relative to the root, sorted (``manifest.json`` and a top ``README.md`` excluded).

        Only regular files inside the bundle are listed (links to files inside it too);
        what is refused is listed by :meth:`refused`.
        """
        return list(self._walk()[0])

    def refused(self) -> list[tuple[str, str]]:
        """Entries the bundle holds but that are never read, with the reason.

        Links that leave the bundle (``logs/x.log -> /etc/passwd``), links to directories,
        FIFOs, sockets, devices and unlistable directories: shown in the inventory (as
        ``unrecognised`` files are) so nothing disappears silently.
        """
        return list(self._walk()[2])

    def path_of(self, rel: str) -> Path:
        """The real path of bundle file ``rel``, checked to stay inside the bundle.

        ``rel`` comes from untrusted places (a ``serve-bundle`` URL, a manifest): it must
        be a relative path without ``..``, name a regular file listed by :meth:`files`
        (so a link is followed only to a file inside the bundle). Raises
        :class:`~panda_analysis.errors.BundleError` otherwise.
        """
        clean = _check_rel(rel)
        path = self._walk()[1].get(clean)
        if path is None:
            reason = dict(self._walk()[2]).get(clean, "no such file in the bundle")
            msg = f"{self.origin}: {clean}: {reason}"
            raise BundleError(msg)
        return path

    def log_family(self, rel: str) -> str | None:
        """The log family of a file under ``logs/`` (``None`` for files that are not logs)."""
        if not rel.startswith("logs/") or not rel.endswith(".log"):
            return None
        for pattern, family in self.manifest.get("log_families", {}).items():
            if fnmatch.fnmatchcase(rel, pattern):
                return str(family)
        _, pod, _, _ = log_identity(rel)
        subject = pod if pod is not None else PurePosixPath(rel).name
        for pattern, family in LOG_FAMILIES:
            if fnmatch.fnmatchcase(subject, pattern):
                return family
        return "other_logs"

    def sources(self, part: str) -> list[LogFile]:
        """The files that feed frame ``part`` (empty list when the bundle has none)."""
        files = self.files()
        if part in LOG_PARTS:
            family = LOG_PARTS[part]
            chosen = [f for f in files if self.log_family(f) == family]
        elif part in FILE_PARTS:
            chosen = [f for f in files if any(fnmatch.fnmatchcase(f, g) for g in FILE_PARTS[part])]
        else:
            msg = f"unknown bundle part {part!r}; parts are {sorted({*LOG_PARTS, *FILE_PARTS})}"
            raise KeyError(msg)
        out = []
        real = self._walk()[1]
        for rel in chosen:
            namespace, pod, container, previous = log_identity(rel)
            out.append(
                LogFile(
                    name=rel, path=real[rel], namespace=namespace, pod=pod,
                    container=container, is_previous=previous,
                )
            )
        # a container's previous (crashed) log comes before its current one: time order
        out.sort(key=lambda f: (f.name.removesuffix(".log").removesuffix(".previous"), not f.is_previous))
        return out

    def unrecognised(self) -> list[str]:
        """Files no part reads (shown in the inventory so nothing disappears silently)."""
        known: set[str] = set()
        for part in (*LOG_PARTS, *FILE_PARTS):
            known.update(f.name for f in self.sources(part))
        return [f for f in self.files() if f not in known]

    # ----------------------------------------------------------------- parsed views
    def frames(self) -> Frames:
        """Every frame parsed from this bundle (parsed once, then cached)."""
        if self._frames is None:
            from panda_analysis import parse

            self._frames = parse.frames(self)
        return self._frames

    def inventory(self) -> pd.DataFrame:
        """What the bundle holds, one row per part.

        Returns
        -------
        DataFrame with columns ``part``, ``present`` (has files), ``files``, ``rows``,
        ``unparsed`` (lines no parser could read), ``unparsed_sample`` (first of them, as
        ``source:line_no: text``), ``first_ts`` and ``last_ts`` (UTC). Two last rows:
        ``unrecognised`` counts files no part reads, ``refused`` the entries never read
        (links out of the bundle, FIFOs, devices: :meth:`refused`), each with its first
        one as the sample.
        """
        frames = self.frames()
        rows = []
        for name, df in frames.items():
            n_files = len(self.sources(name))
            ts = df["ts"].dropna()
            sample = df.attrs.get("unparsed_sample") or []
            rows.append(
                {
                    "part": name,
                    "present": n_files > 0,
                    "files": n_files,
                    "rows": len(df),
                    "unparsed": int(df.attrs.get("unparsed", 0)),
                    "unparsed_sample": sample[0] if sample else "",
                    "first_ts": ts.min() if len(ts) else pd.NaT,
                    "last_ts": ts.max() if len(ts) else pd.NaT,
                }
            )
        strays = self.unrecognised()
        refused = [f"{rel}: {reason}" for rel, reason in self.refused()]
        for part, listed in (("unrecognised", strays), ("refused", refused)):
            rows.append(
                {
                    "part": part,
                    "present": bool(listed),
                    "files": len(listed),
                    "rows": 0,
                    "unparsed": 0,
                    "unparsed_sample": listed[0] if listed else "",
                    "first_ts": pd.NaT,
                    "last_ts": pd.NaT,
                }
            )
        out = pd.DataFrame(rows)
        out["present"] = out["present"].astype("boolean")
        for col in ("files", "rows", "unparsed"):
            out[col] = out[col].astype("Int64")
        out["unparsed_sample"] = out["unparsed_sample"].astype("string")
        for col in ("first_ts", "last_ts"):
            out[col] = pd.to_datetime(out[col], utc=True).dt.as_unit("ns")
        return out

    def has_evidence(self) -> bool:
        """True when some part of the bundle has a non-empty file to read.

        An empty directory, a bundle with only a manifest, an archive of zeros or of empty
        files hold no evidence: diagnosing them must not read as "healthy".
        """
        real = self._walk()[1]
        parts = {*LOG_PARTS, *FILE_PARTS}
        for part in parts:
            for source in self.sources(part):
                try:
                    if real[source.name].stat().st_size > 0:
                        return True
                except OSError:
                    continue
        return False

    # ----------------------------------------------------------------- writing
    def save(self, dest: str | os.PathLike[str]) -> Path:
        """Copy this bundle to ``dest`` (a directory, or a ``.tar.gz`` when the name says so)."""
        with BundleWriter(dest, manifest=self.manifest) as writer:
            for rel in self.files():
                with open_regular(self.path_of(rel)) as handle:
                    writer.add_bytes(rel, handle.read())
        return writer.path


def _classify(path: Path, top: Path) -> tuple[str | None, Path]:
    """``(None, real path)`` for a readable regular file inside ``top``, else ``(reason, path)``."""
    try:
        st = path.lstat()
    except OSError as err:
        return f"cannot read ({err.strerror})", path
    if stat.S_ISLNK(st.st_mode):
        try:
            target = path.resolve(strict=True)
        except (OSError, RuntimeError):
            return "a broken or looping link", path
        if not target.is_relative_to(top):
            return "a link that leaves the bundle (not followed)", path
        try:
            st = target.stat()
        except OSError as err:
            return f"cannot read ({err.strerror})", path
        path = target
    if stat.S_ISREG(st.st_mode):
        return None, path
    kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) else "a device or special file"
    if stat.S_ISDIR(st.st_mode):
        kind = "a link to a directory"
    return f"{kind}; bundles hold plain files only", path


def is_bundle(obj: object) -> TypeGuard[Bundle]:
    """True for a :class:`Bundle` (also one whose module was imported twice, as doctest runners do)."""
    return isinstance(obj, Bundle) or (type(obj).__name__ == "Bundle" and hasattr(obj, "sources"))


def load_bundle(path: str | os.PathLike[str] | Bundle) -> Bundle:
    """Open an evidence bundle: a directory, a ``.tar.gz`` of one, or ``sample:<name>``.

    Raises :class:`~panda_analysis.errors.BundleError` with the file named when the bundle
    cannot be read (corrupt archive, malformed ``manifest.json``, unknown format).

    Examples
    --------
    >>> import panda_analysis as pa
    >>> pa.load_bundle("sample:waiting_for_fiber").manifest["format"]
    'panda-bundle/1'
    """
    if is_bundle(path):
        return path
    return Bundle.open(cast("str | os.PathLike[str]", path))


def _check_rel(rel: str) -> str:
    posix = PurePosixPath(rel.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or not posix.parts or rel.endswith("/"):
        msg = f"bundle member {rel!r} must be a relative file path inside the bundle"
        raise BundleError(msg)
    return posix.as_posix()


def _merge_redacted(given: Any, records: Iterable[Mapping[str, Any]]) -> list[Any]:
    """Merge redaction records into a manifest's ``"redacted"`` list, summing per kind and file.

    Entries of ``given`` that are not ``{"kind", "file", "count"}`` records are kept as
    they are, first.
    """
    kept: list[Any] = []
    counts: dict[tuple[str, str], int] = {}
    for entry in [*(given if isinstance(given, list) else []), *records]:
        if isinstance(entry, Mapping) and {"kind", "file", "count"} <= entry.keys() and isinstance(entry["count"], int):
            key = (str(entry["file"]), str(entry["kind"]))
            counts[key] = counts.get(key, 0) + entry["count"]
        else:
            kept.append(entry)
    return kept + [{"kind": kind, "file": file, "count": n} for (file, kind), n in sorted(counts.items())]


class BundleWriter:
    """Write a ``panda-bundle/1`` bundle: a directory, or a ``.tar.gz`` when the path ends so.

    Use as a context manager; ``manifest.json`` (with ``format`` and ``created_at``) is
    written on close, and the archive is packed then. Files are written through the
    optional ``redact`` callable (``(rel_path, text) -> text``) before they touch disk;
    ``redact=True`` means a fresh :class:`~panda_analysis.redact.Redactor`. When the hook
    keeps ``records`` (as a ``Redactor`` does), the manifest's ``"redacted"`` list gets
    them on close (kind, file, count; merged with any list the given manifest has), and
    a hook with ``redact_json`` also redacts the manifest's own values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "evidence.tar.gz"
    >>> with BundleWriter(out, manifest={"source": "doctest"}) as w:
    ...     _ = w.add_text("k8s/pods.txt", "NAME READY STATUS RESTARTS AGE\\n")
    >>> load_bundle(out).files()
    ['k8s/pods.txt']
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "evidence"
    >>> with BundleWriter(out, redact=True) as w:
    ...     _ = w.add_text("logs/panda/mongodb-0/mongodb.log", "connect mongodb://panda:hunter2@mongodb:27017\\n")
    >>> load_bundle(out).manifest["redacted"]
    [{'kind': 'uri_password', 'file': 'logs/panda/mongodb-0/mongodb.log', 'count': 1}]
    """

    def __init__(
        self,
        dest: str | os.PathLike[str],
        *,
        manifest: Mapping[str, Any] | None = None,
        redact: Callable[[str, str], str] | bool | None = None,
        overwrite: bool = False,
    ):
        self.path = Path(dest)
        self.is_archive = self.path.name.endswith((".tar.gz", ".tgz"))
        if self.path.exists() and not overwrite and (self.is_archive or any(self.path.iterdir())):
            msg = f"{self.path}: already exists and is not empty; choose another path or remove it"
            raise BundleError(msg)
        self.manifest: dict[str, Any] = {"format": FORMAT, **dict(manifest or {})}
        self.manifest["format"] = FORMAT
        self.manifest.setdefault("created_at", pd.Timestamp.now(tz="UTC").isoformat().replace("+00:00", "Z"))
        if redact is True:
            from panda_analysis.redact import Redactor

            redact = Redactor()
        self._redact: Callable[[str, str], str] | None = redact or None
        self._staging = make_temp_dir("panda-bundle-w-") if self.is_archive else self.path
        self._staging.mkdir(parents=True, exist_ok=True)
        self.written: list[str] = []

    @property
    def staging(self) -> Path:
        """Directory the files are written to before ``close()`` (the bundle itself for directories)."""
        return self._staging

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        elif self.is_archive:
            remove_temp(self._staging)

    def add_bytes(self, rel: str, data: bytes) -> Path:
        """Write ``data`` to ``rel`` inside the bundle (text goes through ``redact``)."""
        rel = _check_rel(rel)
        if self._redact is not None:
            text = data.decode("utf-8", errors="surrogateescape")
            data = self._redact(rel, text).encode("utf-8", errors="surrogateescape")
        target = self._staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        self.written.append(rel)
        return target

    def add_text(self, rel: str, text: str) -> Path:
        """Write ``text`` (UTF-8) to ``rel``."""
        return self.add_bytes(rel, text.encode("utf-8", errors="surrogateescape"))

    def add_json(self, rel: str, obj: Any) -> Path:
        """Write one JSON document (indented, as kubectl prints) to ``rel``."""
        return self.add_text(rel, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")

    def add_jsonl(self, rel: str, records: Iterable[Any]) -> Path:
        """Write JSON lines (one compact document per line) to ``rel``."""
        lines = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records)
        return self.add_text(rel, lines)

    def close(self) -> Path:
        """Write the manifest and, for archives, pack the ``.tar.gz``. Returns the bundle path."""
        redactor: Any = self._redact
        if redactor is not None and hasattr(redactor, "redact_json"):
            given = self.manifest.pop("redacted", None)
            self.manifest = redactor.redact_json(self.manifest, where="manifest.json")
            if given is not None:
                self.manifest["redacted"] = given
        records = getattr(redactor, "records", None)
        if records is not None:
            self.manifest["redacted"] = _merge_redacted(self.manifest.get("redacted"), records)
        (self._staging / "manifest.json").write_text(
            json.dumps(self.manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        if self.is_archive:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tarfile.open(self.path, "w:gz") as tar:
                for file in sorted(self._staging.rglob("*")):
                    if file.is_file():
                        tar.add(file, arcname=file.relative_to(self._staging).as_posix(), recursive=False)
            remove_temp(self._staging)
        return self.path
