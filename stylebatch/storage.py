"""Object storage through fsspec: `s3://`, `gs://`, `az://` (and any fsspec protocol) URLs for
manifests, inputs and outputs. `file://` URLs are plain local paths.

Credentials and endpoints come from each library's own configuration (environment, config
files, instance roles, `AWS_ENDPOINT_URL` for S3-compatible stores): stylebatch passes none.

Writes go straight to the final object: on object stores an upload (single PUT, or a multipart
upload's completion) becomes visible whole or not at all, so no half-written object ever shows
under the final name. A job's output is complete when its sidecar, written after the image,
names the job (batch/sidecars.py).
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import ConfigError, InputError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")
# the extra that brings each protocol's fsspec implementation
EXTRAS = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
}
# object metadata that changes whenever the object does, most specific first (S3, GCS, Azure)
VERSION_KEYS = ("VersionId", "generation", "ETag", "etag", "md5Hash", "content_md5", "LastModified", "mtime")


class Url(str):
    """A storage URL with the little of `pathlib.Path`'s interface the batch layer uses."""

    @property
    def scheme(self) -> str:
        return self.split("://", 1)[0].lower()

    @property
    def name(self) -> str:
        return self.rstrip("/").rsplit("/", 1)[-1]

    @property
    def suffix(self) -> str:
        return os.path.splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return os.path.splitext(self.name)[0]

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.split("://", 1)[1].rstrip("/").split("/"))

    @property
    def parent(self) -> Url:
        head, _, _ = self.rstrip("/").rpartition("/")
        return Url(head if "://" in head and not head.endswith(":/") else self)

    def __truediv__(self, rel: str | os.PathLike) -> Url:
        rel = str(rel).lstrip("/")
        return Url(f"{self.rstrip('/')}/{rel}") if rel else self

    def relative_to(self, base: str | os.PathLike) -> PurePosix:
        prefix = str(base).rstrip("/") + "/"
        if not self.startswith(prefix):
            raise ValueError(f"{self} is not under {base}")
        return PurePosix(self[len(prefix) :])

    def as_posix(self) -> str:
        return str(self)


class PurePosix(str):
    """A relative key under a URL prefix (what `Url.relative_to` gives)."""

    def as_posix(self) -> str:
        return str(self)


def is_url(value: object) -> bool:
    """Whether `value` is a storage URL (not a local path, not a `file://` URL)."""
    if isinstance(value, Url):
        return True
    m = _SCHEME.match(str(value)) if isinstance(value, str) else None
    return bool(m) and m.group(1).lower() != "file"


def location(value: str | os.PathLike) -> Path | Url:
    """A user's path or URL as the batch layer keeps it: a storage Url, or an absolute Path
    (`file://` URLs included)."""
    text = os.fspath(value)
    if is_url(text):
        return Url(text)
    if text.lower().startswith("file://"):
        text = unquote(urlsplit(text).path)
    return Path(os.path.abspath(os.path.expanduser(text)))


def join(base: str | Path | Url, value: str) -> Path | Url:
    """`value` (a path, a URL) relative to the folder `base` (a path or a URL)."""
    if is_url(value) or value.lower().startswith("file://"):
        return location(value)
    if isinstance(base, Url):
        scheme, _, rest = base.partition("://")
        bucket, _, key = rest.partition("/")
        return Url(f"{scheme}://{bucket}/{posixpath.normpath(f'/{key}/{value}').lstrip('/')}")
    return Path(os.path.abspath(os.path.join(base, os.path.expanduser(value))))


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for a storage URL; a missing extra is a clear error."""
    import fsspec

    scheme = Url(url).scheme
    try:
        return fsspec.core.url_to_fs(str(url))
    except ImportError:
        extra = EXTRAS.get(scheme)
        how = f'pip install "stylebatch[{extra}]"' if extra else f"install the fsspec package for {scheme}://"
        raise ConfigError(f"{url}: {scheme}:// storage needs an extra package: {how}") from None
    except ValueError as exc:
        raise ConfigError(f"{url}: not a storage URL fsspec knows ({exc})") from None


def problem(exc: BaseException) -> str:
    """What went wrong with a storage call, in words a user can act on (no credentials shown)."""
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"):
        return (
            "no storage credentials found (configure them as the storage library expects: "
            "environment variables, a config file or an instance role)"
        )
    if isinstance(exc, FileNotFoundError):
        return "not found (no such object or bucket)"
    if isinstance(exc, PermissionError):
        return f"access denied ({exc})"
    if isinstance(exc, IsADirectoryError):
        return "is a folder (prefix), not an object"
    text = str(exc).strip() or name
    return text if name in text else f"{name}: {text}"


def info(url: str) -> dict[str, Any]:
    """The object's metadata (size, ETag/version); InputError when missing or unreadable."""
    fs, path = filesystem(url)
    try:
        meta = fs.info(path)
    except Exception as exc:
        raise InputError(url, problem(exc)) from None
    if meta.get("type") == "directory":
        raise InputError(url, "is a folder (prefix), not an object")
    return meta


def version(meta: dict[str, Any]) -> str:
    """A text that changes whenever the object described by `meta` does."""
    for key in VERSION_KEYS:
        if meta.get(key):
            return f"{key}={meta[key]}:size={meta.get('size')}"
    return f"size={meta.get('size')}"


def fingerprint(url: str, meta: dict[str, Any] | None = None) -> str:
    """The identity of an object's current contents, from its metadata (no download)."""
    return hashlib.sha256(f"{url}\n{version(meta or info(url))}".encode()).hexdigest()


def read_bytes(url: str, start: int | None = None, end: int | None = None) -> bytes:
    """The object's bytes (or the range start..end); InputError naming the URL on failure."""
    fs, path = filesystem(url)
    try:
        return fs.cat_file(path, start=start, end=end)
    except Exception as exc:
        raise InputError(url, problem(exc)) from None


def write_bytes(url: str, data: bytes) -> None:
    """Upload `data` to `url` in one piece (visible whole or not at all). Raises OSError."""
    fs, path = filesystem(url)
    try:
        fs.pipe_file(path, data)
    except Exception as exc:  # OSErrors, and botocore's own (credentials, endpoint), which are not
        raise OSError(f"cannot write {url}: {problem(exc)}") from None


def write_many(files: dict[str, bytes]) -> None:
    """Upload several objects at once (concurrently where the store's library can). Raises OSError."""
    by_fs: dict[int, tuple[Any, dict[str, bytes]]] = {}
    for url, data in files.items():
        fs, path = filesystem(url)
        by_fs.setdefault(id(fs), (fs, {}))[1][path] = data
    for fs, batch in by_fs.values():
        try:
            fs.pipe(batch)
        except Exception as exc:
            raise OSError(f"cannot write {next(iter(files))} and the rest: {problem(exc)}") from None


def listing(prefix: str) -> dict[str, dict[str, Any]]:
    """Every object under `prefix`: {key relative to the prefix: metadata}. Empty when none."""
    fs, path = filesystem(prefix)
    try:
        found = fs.find(path, detail=True)
    except FileNotFoundError:
        return {}
    except Exception as exc:
        raise InputError(prefix, problem(exc)) from None
    finally:  # a cached listing would answer later questions (info, reads) with a stale "missing"
        fs.invalidate_cache(path)
    root = path.rstrip("/") + "/"
    return {
        k[len(root) :]: v for k, v in found.items() if k.startswith(root) and v.get("type") != "directory"
    }


def check_writable(prefix: str) -> None:
    """Refuse an output prefix that cannot be written (missing bucket, no credentials, denied)."""
    probe = Url(prefix) / f".stylebatch-write-test.{os.getpid()}"
    write_bytes(probe, b"x")
    fs, path = filesystem(probe)
    try:
        fs.rm_file(path)
    except Exception:
        pass  # writable is what was asked; a leftover probe harms nothing


def state_dir(url: str, root: Path | None = None) -> Path:
    """The local folder that keeps the ledger and report of a run writing to `url` (by default
    under the user's cache)."""
    from .config import RUN_STATES, user_cache

    root = root if root is not None else user_cache() / RUN_STATES
    tag = re.sub(r"[^\w.-]+", "_", str(url).split("://", 1)[-1]).strip("_")[-60:]
    return root / f"{tag}-{hashlib.sha256(str(url).rstrip('/').encode()).hexdigest()[:10]}"


def fetch(source: Path | str, folder: Path) -> Path:
    """A local copy of a storage object (downloaded into `folder`), or the local path itself."""
    if not is_url(source):
        return Path(source)
    target = folder / Url(source).name
    if not target.exists():
        data = read_bytes(str(source))
        folder.mkdir(parents=True, exist_ok=True)
        from .images import atomic_write

        atomic_write(target, data)
    return target


def upload(local: Path, url: str, then: tuple[Path, ...] = ()) -> None:
    """Upload a local file to `url`, then each of `then` beside it (a sidecar: `url` + its
    suffix after the file's name). Raises OSError naming the URL."""
    write_bytes(url, local.read_bytes())
    for extra in then:
        if extra.exists():
            write_bytes(f"{url}{extra.name[len(local.name) :]}", extra.read_bytes())
