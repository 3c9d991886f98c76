"""envd's files: the ``filesystem.Filesystem`` Connect service (stat, list, mkdir, move, remove) and the plain HTTP
``GET``/``POST /files`` (download; multipart or octet-stream upload) and ``GET /health``.

Paths are the sandbox's (see :mod:`._e2b_paths`); replies name them the same way. Directory watching is not
implemented (``unimplemented``), nor are the extended attributes behind file metadata (uploads echo it back).
"""

from __future__ import annotations

import contextlib
import grp
import os
import posixpath
import pwd
import shutil
import stat
import zlib
from collections.abc import Generator
from datetime import UTC, datetime
from typing import Any

from connectrpc.code import Code
from connectrpc.errors import ConnectError
from connectrpc.request import RequestContext
from e2b.envd.filesystem import filesystem_pb
from e2b.envd.filesystem.filesystem_connect import Filesystem, FilesystemASGIApplication
from protobuf.wkt.google.protobuf.timestamp_pb import Timestamp
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcpexec.testing._e2b_envd_process import sandbox_of
from mcpexec.testing._e2b_paths import SandboxFS
from mcpexec.testing._e2b_state import FakeSandbox, FakeState

__all__ = ["SANDBOX_SCOPE_KEY", "FilesystemService", "filesystem_app", "http_app"]

SANDBOX_SCOPE_KEY = "mcpexec.fake_e2b.sandbox"
"""ASGI scope key under which the dispatcher hands the plain HTTP app the request's (live) sandbox."""
_COPY_CHUNK = 1 << 16


def _name(lookup: Any, ident: int) -> str:
    try:
        return str(lookup(ident)[0])
    except KeyError:
        return str(ident)


def entry_info(fs: SandboxFS, path: str) -> filesystem_pb.EntryInfo:
    """Stat a sandbox path (not following a final symlink, but reporting its target's type as envd does)."""
    host = fs.host(path)
    info = os.lstat(host)
    is_symlink = stat.S_ISLNK(info.st_mode)
    target: str | None = None
    kind_mode = info.st_mode
    if is_symlink:
        target = fs.resolve(path)
        with contextlib.suppress(OSError):
            kind_mode = os.stat(fs.host(target)).st_mode
    kind = filesystem_pb.FileType.DIRECTORY if stat.S_ISDIR(kind_mode) else filesystem_pb.FileType.FILE
    return filesystem_pb.EntryInfo(
        name=posixpath.basename(path) or "/",
        type=kind,
        path=path,
        size=info.st_size,
        mode=stat.S_IMODE(info.st_mode),
        permissions=stat.filemode(info.st_mode),
        owner=_name(pwd.getpwuid, info.st_uid),
        group=_name(grp.getgrgid, info.st_gid),
        modified_time=Timestamp.from_datetime(datetime.fromtimestamp(info.st_mtime, UTC)),
        symlink_target=target,
        is_symlink=is_symlink,
    )


def rpc_error(exc: OSError) -> ConnectError:
    """The Connect error envd answers a failed filesystem operation with."""
    message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    match exc:
        case FileNotFoundError():
            code = Code.NOT_FOUND
        case FileExistsError():
            code = Code.ALREADY_EXISTS
        case PermissionError():
            code = Code.PERMISSION_DENIED
        case NotADirectoryError() | IsADirectoryError():
            code = Code.INVALID_ARGUMENT
        case _:
            code = Code.INTERNAL
    return ConnectError(code, message)


@contextlib.contextmanager
def rpc_errors() -> Generator[None]:
    """Turn an ``OSError`` raised inside into the Connect error envd answers with (:func:`rpc_error`)."""
    try:
        yield
    except OSError as exc:
        raise rpc_error(exc) from exc


def http_error(exc: OSError) -> JSONResponse:
    """The JSON error envd's HTTP API answers a failed file operation with."""
    match exc:
        case FileNotFoundError():
            status = 404
        case PermissionError():
            status = 403
        case NotADirectoryError() | IsADirectoryError() | FileExistsError():
            status = 400
        case _:
            status = 500
    message = f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)
    return JSONResponse({"code": status, "message": message}, status_code=status)


class FilesystemService(Filesystem):
    """The methods of envd's filesystem service, over the fake's state (watching is left unimplemented)."""

    def __init__(self, state: FakeState) -> None:
        self._state = state

    def _fs(self, ctx: RequestContext[Any, Any]) -> SandboxFS:
        return sandbox_of(self._state, ctx).fs

    async def stat(
        self, request: filesystem_pb.StatRequest, ctx: RequestContext[Any, Any]
    ) -> filesystem_pb.StatResponse:
        fs = self._fs(ctx)
        with rpc_errors():
            return filesystem_pb.StatResponse(entry=entry_info(fs, fs.resolve(request.path, follow_last=False)))

    async def make_dir(
        self, request: filesystem_pb.MakeDirRequest, ctx: RequestContext[Any, Any]
    ) -> filesystem_pb.MakeDirResponse:
        fs = self._fs(ctx)
        with rpc_errors():
            path = fs.resolve(request.path)
            if fs.host(path).exists():
                raise FileExistsError(17, "directory already exists", path)
            fs.make_dirs(path)
            return filesystem_pb.MakeDirResponse(entry=entry_info(fs, path))

    async def move(
        self, request: filesystem_pb.MoveRequest, ctx: RequestContext[Any, Any]
    ) -> filesystem_pb.MoveResponse:
        fs = self._fs(ctx)
        with rpc_errors():
            _, source = fs.for_write(request.source, follow_last=False)
            target, destination = fs.for_write(request.destination, follow_last=False)
            fs.make_dirs(posixpath.dirname(target))
            os.rename(source, destination)
            return filesystem_pb.MoveResponse(entry=entry_info(fs, target))

    async def list_dir(
        self, request: filesystem_pb.ListDirRequest, ctx: RequestContext[Any, Any]
    ) -> filesystem_pb.ListDirResponse:
        fs = self._fs(ctx)
        entries: list[filesystem_pb.EntryInfo] = []

        def walk(directory: str, depth: int) -> None:
            for name in sorted(os.listdir(fs.host(directory))):
                path = posixpath.join(directory, name)
                entry = entry_info(fs, path)
                entries.append(entry)
                if depth > 1 and entry.type == filesystem_pb.FileType.DIRECTORY and not entry.is_symlink:
                    walk(path, depth - 1)

        with rpc_errors():
            directory = fs.resolve(request.path)
            if not fs.host(directory).is_dir():
                raise NotADirectoryError(20, "path is not a directory", directory)
            walk(directory, max(request.depth, 1))
        return filesystem_pb.ListDirResponse(entries=entries)

    async def remove(
        self, request: filesystem_pb.RemoveRequest, ctx: RequestContext[Any, Any]
    ) -> filesystem_pb.RemoveResponse:
        fs = self._fs(ctx)
        with rpc_errors():
            _, host = fs.for_write(request.path, follow_last=False)
            if host.is_dir() and not host.is_symlink():
                shutil.rmtree(host)
            else:
                host.unlink()
        return filesystem_pb.RemoveResponse()


def filesystem_app(state: FakeState) -> FilesystemASGIApplication:
    return FilesystemASGIApplication(FilesystemService(state))


# -- plain HTTP -------------------------------------------------------------------------------------------------------


class _BadRequest(Exception):
    """A malformed upload (answered 400)."""


def _sandbox(request: Request) -> FakeSandbox:
    sandbox: FakeSandbox = request.scope[SANDBOX_SCOPE_KEY]
    return sandbox


def _written(fs: SandboxFS, path: str) -> tuple[str, Any]:
    """(sandbox path, open binary file) to upload ``path`` into, parents created."""
    target, host = fs.for_write(path)
    fs.make_dirs(posixpath.dirname(target))
    if host.is_dir():
        raise IsADirectoryError(21, "path is a directory", target)
    return target, open(host, "wb")  # the caller closes it


def _metadata(request: Request) -> dict[str, str]:
    return {k[len("x-metadata-") :].lower(): v for k, v in request.headers.items() if k.startswith("x-metadata-")}


def _info(path: str, metadata: dict[str, str]) -> dict[str, Any]:
    info: dict[str, Any] = {"name": posixpath.basename(path), "type": "file", "path": path}
    if metadata:
        info["metadata"] = metadata
    return info


async def _upload_octet_stream(request: Request, fs: SandboxFS) -> list[dict[str, Any]]:
    path = request.query_params.get("path")
    if not path:
        raise _BadRequest("the path query parameter is required for an octet-stream upload")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if request.headers.get("content-encoding") == "gzip" else None
    target, handle = _written(fs, path)
    with handle:
        async for chunk in request.stream():
            handle.write(decoder.decompress(chunk) if decoder is not None else chunk)
        if decoder is not None:
            handle.write(decoder.flush())
    return [_info(target, _metadata(request))]


async def _upload_multipart(request: Request, fs: SandboxFS) -> list[dict[str, Any]]:
    written: list[dict[str, Any]] = []
    async with request.form(max_files=10_000, max_fields=10_000) as form:
        uploads = [value for _, value in form.multi_items() if isinstance(value, UploadFile)]
        single = request.query_params.get("path") if len(uploads) == 1 else None
        for upload in uploads:
            path = single or upload.filename
            if not path:
                raise _BadRequest("an uploaded part names no path")
            target, handle = _written(fs, path)
            with handle:
                while chunk := await upload.read(_COPY_CHUNK):
                    handle.write(chunk)
            written.append(_info(target, _metadata(request)))
    return written


async def files_post(request: Request) -> Response:
    fs = _sandbox(request).fs
    try:
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            written = await _upload_multipart(request, fs)
        else:
            written = await _upload_octet_stream(request, fs)
    except _BadRequest as exc:
        return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
    except zlib.error as exc:
        return JSONResponse({"code": 400, "message": f"invalid gzip body: {exc}"}, status_code=400)
    except OSError as exc:
        return http_error(exc)
    return JSONResponse(written)


async def files_get(request: Request) -> Response:
    fs = _sandbox(request).fs
    path = request.query_params.get("path", "")
    try:
        target, host = fs.for_read(path)
        if host.is_dir():
            raise IsADirectoryError(21, "path is a directory", target)
        data = host.read_bytes()
    except OSError as exc:
        return http_error(exc)
    name = posixpath.basename(target)
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


async def health(request: Request) -> Response:
    return Response(status_code=204)


def http_app() -> Starlette:
    """``/files`` and ``/health`` (the dispatcher puts the sandbox in the scope under :data:`SANDBOX_SCOPE_KEY`)."""
    return Starlette(
        routes=[
            Route("/files", files_get, methods=["GET"]),
            Route("/files", files_post, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
