"""The files a run reads and writes, checked before any work is spent on them, and written so that
nothing is lost: an input must be a regular file (never a directory, a FIFO or a device, which is
refused without being opened); an output that cannot be written, that is a symbolic link, that
would overwrite what is not ours, or that is another output or an input, is refused at once.

Outputs are written whole or not at all (``atomic_write``: a temporary file beside the target,
renamed over it), and a run owns what it writes while it runs (``Lock``): a second run on the
same file is refused, naming the first's process."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import sys

from .errors import OptionError, quoted

try:  # flock: on every system seqattn runs on but Windows, where runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

NEW_FOLDERS = 64  # folders an output may need made for it (a path of thousands is a mistake, not a plan)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PICTURE_MARK = b"seqattn"  # the start of the "Software" text of every PNG seqattn draws (plots._save)


def kind_of(mode):
    """What a file that is not a regular file is, in words."""
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return words
    return "not a regular file"


# ------------------------------------------------------------------------------- inputs
def _stat_input(path, fail, what):
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise fail(f"{what} {path!r} does not exist") from None
    except OSError as exc:
        raise fail(f"{what} {path!r} cannot be read: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise fail(f"{what} {path!r} is not a regular file: it is {kind_of(st.st_mode)}; give a file")
    return st


def check_input(path, key):
    """Refuse, before any work and without opening it, an input (option ``key``) that is missing,
    unreadable, or not a regular file."""
    _stat_input(os.fspath(path), OptionError, f"<{key}>")
    if not os.access(path, os.R_OK):
        raise OptionError(f"<{key}> {os.fspath(path)!r} cannot be read: no permission")


def open_regular(path, fail, what="file"):
    """``path`` opened for reading in binary, or ``fail(message)`` (an exception class) if it is
    missing or not a regular file. A FIFO or a device is never opened (so never waited on), and
    what was opened is checked again, in case the path changed in between."""
    path = os.fspath(path)
    _stat_input(path, fail, what)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise fail(f"{what} {path!r} cannot be read: {exc.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise fail(f"{what} {path!r} is not a regular file: it is {kind_of(mode)}; give a file")
    return os.fdopen(fd, "rb")


# ------------------------------------------------------------------------------ outputs
def _name_max(folder):
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def check_writable(path, key, picture=False, ending=None, choose=None):
    """Refuse, before any work, an output path (option ``key``) that cannot be written: a
    directory, a symbolic link (writing would replace or follow it), a FIFO or a device, a path
    under a file, a name longer than the file system allows, a folder without permission. A
    ``picture`` must end in .png (nothing is added to a name), and an existing file there must be a
    PNG picture that seqattn drew (``drawn_by_seqattn``); another output must end in ``ending``
    where one is given. ``choose``: the option
    to choose another of, ``<key>`` by default (another for a file named after another option's
    value, as the -best checkpoint is after --save)."""
    path = os.fspath(path)
    choose = choose or f"<{key}>"
    ending = ending or (".png" if picture else None)
    if ending and os.path.basename(path).lower() == ending:  # ".csv": a name that is only its ending
        raise OptionError(f"<{key}> {path!r} must be a file name before its {ending}, such as "
                          f"{os.path.join(os.path.dirname(path), 'run' + ending)!r}")
    if ending and os.path.splitext(path)[1].lower() != ending:  # never a name changed behind the user's back
        raise OptionError(f"<{key}> {path!r} must end in {ending}, such as {os.path.splitext(path)[0] + ending!r}"
                          + (": seqattn draws its pictures as PNG" if picture else ""))
    full, st = _lstat_no_link(path, key, choose)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise OptionError(f"<{key}> {path!r} is a directory; give a file name")
        if not stat.S_ISREG(st.st_mode):
            raise OptionError(f"<{key}> {path!r} is not a regular file: it is {kind_of(st.st_mode)}; choose another {choose}")
        if picture and not drawn_by_seqattn(full):
            raise OptionError(f"<{key}> {path!r} exists and is not a picture that seqattn drew; refusing to overwrite it: "
                              f"remove it, or choose another {choose}")
    _check_parent(path, key, st)


def check_folder(path, key, holds, what, choose=None):
    """Refuse, before any work, a folder that a run writes files into (option ``key``): a
    symbolic link, a file or a special file where the folder goes, a folder that holds anything
    but what ``holds(name)`` accepts (``what``, in words: files seqattn would write there), a
    folder that cannot be made or written."""
    path = os.fspath(path)
    choose = choose or f"<{key}>"
    full, st = _lstat_no_link(path, key, choose)
    if st is not None:
        if not stat.S_ISDIR(st.st_mode):
            raise OptionError(f"<{key}> {path!r} is {kind_of(st.st_mode) if not stat.S_ISREG(st.st_mode) else 'a file'}, "
                              f"where the folder of {what} goes; choose another {choose}")
        try:
            foreign = sorted(name for name in os.listdir(full) if not holds(name))
        except OSError as exc:
            raise OptionError(f"<{key}> {path!r} cannot be read: {exc.strerror}") from None
        if foreign:
            raise OptionError(f"<{key}> {path!r} holds {foreign[0]!r}, which is not one of {what}; refusing to write into "
                              f"a folder of other files: choose another {choose}")
    _check_parent(path, key, st)


def _lstat_no_link(path, key, choose):
    """(absolute path, ``os.lstat`` of an output, None when it is not there); a symbolic link is
    refused, as writing would replace it or follow it elsewhere."""
    full = os.path.abspath(path)
    try:
        st = os.lstat(full)
    except OSError:
        return full, None
    if stat.S_ISLNK(st.st_mode):
        raise OptionError(f"<{key}> {path!r} is a symbolic link (to {os.readlink(full)!r}); refusing to write through "
                          f"it: remove the link, or choose another {choose}")
    return full, st


def _check_parent(path, key, st):
    """The folder of ``path`` (an output with ``os.lstat`` result ``st``, None when missing) can
    be made and written, and every name to be made is one the file system allows."""
    full = os.path.abspath(path)
    missing, parent = [os.path.basename(full)], os.path.dirname(full)
    while not os.path.lexists(parent):
        missing.append(os.path.basename(parent))
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise OptionError(f"<{key}> {path!r} cannot be written: {parent!r} is a file, not a directory")
    if len(missing) - 1 > NEW_FOLDERS:
        raise OptionError(f"<{key}> {quoted(path)} would need {len(missing) - 1:,} new folders, more than the {NEW_FOLDERS} "
                          "seqattn makes for an output; make them first, or choose a shorter path")
    limit = _name_max(parent)
    for name in missing:
        if len(os.fsencode(name)) > limit:
            raise OptionError(f"<{key}> {path!r} cannot be written: the name {name[:24]!r}... is {len(os.fsencode(name))} "
                              f"bytes long, and this file system allows {limit}")
    if not os.access(parent, os.W_OK | os.X_OK) or (st is not None and not os.access(full, os.W_OK)):
        raise OptionError(f"<{key}> {path!r} cannot be written: no permission")


def drawn_by_seqattn(path):
    """Whether the file ``path`` is a PNG picture whose "Software" text, among the chunks before
    its image data, names seqattn (what ``plots`` writes into every picture it draws)."""
    try:
        with open_regular(path, OSError) as f:
            if f.read(len(PNG_MAGIC)) != PNG_MAGIC:
                return False
            for _ in range(64):  # the text chunks come before the image data: a few chunks in
                head = f.read(8)
                if len(head) < 8 or head[4:] in (b"IDAT", b"IEND"):
                    return False
                size = int.from_bytes(head[:4], "big")
                if head[4:] == b"tEXt" and size <= 4096:
                    keyword, _, text = f.read(size).partition(b"\0")
                    if keyword == b"Software" and text.startswith(PICTURE_MARK):
                        return True
                    f.seek(4, os.SEEK_CUR)
                else:
                    f.seek(size + 4, os.SEEK_CUR)
    except OSError:
        pass
    return False


def identity(path):
    """What file ``path`` is: its device and inode when it exists, else its absolute path with
    the folders' links resolved. Two paths of one identity are one file."""
    full = os.path.abspath(os.fspath(path))
    real = os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))
    try:
        st = os.stat(real)
        return st.st_dev, st.st_ino
    except OSError:
        return real


def same_file(a, b):
    """Whether paths ``a`` and ``b`` name one file (existing or to be written)."""
    return a is not None and b is not None and identity(a) == identity(b)


def check_distinct(outputs, inputs=()):
    """``outputs``: (option, path) or (option, path, the option to choose another of) triples;
    ``inputs``: (option, path) pairs. Refuse two outputs that are one file, an output that is an
    input, and an output that is where the standard output already goes."""
    outputs = [(o[0], os.fspath(o[1]), o[2] if len(o) > 2 else f"<{o[0]}>") for o in outputs if o[1] is not None]
    for i, (key, path, choose) in enumerate(outputs):
        for other, there, _ in outputs[:i]:
            if same_file(path, there):
                raise OptionError(f"<{key}> {path!r} and <{other}> {there!r} are one file; give each output a name of its own")
        for other, there in inputs:
            if same_file(path, there):
                raise OptionError(f"<{key}> {path!r} is the <{other}> file; refusing to overwrite an input: choose another {choose}")
    try:
        out = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no file behind the standard output (a test's capture)
        return
    if stat.S_ISREG(out.st_mode):
        for key, path, choose in outputs:
            if identity(path) == (out.st_dev, out.st_ino):
                raise OptionError(f"<{key}> {path!r} is where the standard output goes; choose another {choose}")


# ----------------------------------------------------------------------------- writing
def _beside(path, prefix, suffix):
    """``prefix + name + suffix`` in ``path``'s folder, the name cut to what the file system allows."""
    folder, name = os.path.split(os.path.abspath(path))
    room = _name_max(folder) - len(os.fsencode(prefix + suffix)) - 24  # room for a process id and a random tag
    return folder, prefix + os.fsdecode(os.fsencode(name)[: max(room, 1)]) + suffix


def _temp_parts(path):
    """(folder, prefix, suffix) of the temporary files of ``path``: ``.tmp-NAME-PID-TAG.EXT``."""
    ext = os.path.splitext(path)[1]
    folder, prefix = _beside(path, ".tmp-", "-")
    return folder, prefix, ext


def _writer_gone(folder, name, prefix):
    """Whether the temporary file ``name`` was left by a writer that is gone: its process (named
    in it) has ended and nobody holds its lock."""
    pid = name[len(prefix):].split("-", 1)[0]
    if pid.isdigit():
        try:
            os.kill(int(pid), 0)
            return False  # that process still runs
        except ProcessLookupError:
            pass
        except OSError:  # it runs, as another user
            return False
    if fcntl is None:
        return True
    try:
        fd = os.open(os.path.join(folder, name), os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def clear_stale(path):
    """Remove the temporary files of ``path`` that writers killed before their rename left, and
    only those: a temporary file whose writer still runs is left alone."""
    folder, prefix, suffix = _temp_parts(path)
    with contextlib.suppress(OSError):
        for name in os.listdir(folder):
            if name.startswith(prefix) and name.endswith(suffix) and _writer_gone(folder, name, prefix):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(folder, name))


def make_folders(folder):
    """``os.makedirs(folder, exist_ok=True)`` one folder at a time from the top (no recursion,
    however deep the path)."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for f in reversed(missing):
        try:
            os.mkdir(f)
        except FileExistsError:
            if not os.path.isdir(f):
                raise


@contextlib.contextmanager
def atomic_write(path):
    """``with atomic_write(path) as f:`` write ``f`` (binary); on success it replaces ``path`` in
    one step, flushed to disk, so that an interruption leaves the old file or the new one, never a
    damaged one. A new file gets the mode the user's umask gives; a replaced one keeps its mode.
    The temporary file is locked while written, so that another writer's clean-up spares it."""
    path = os.fspath(path)
    folder, prefix, suffix = _temp_parts(path)
    make_folders(folder)
    clear_stale(path)
    while True:
        tmp = os.path.join(folder, f"{prefix}{os.getpid()}-{secrets.token_hex(4)}{suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        with contextlib.suppress(OSError):
            os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, path)  # while the lock is held
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Lock:
    """``with Lock(path, key):`` this process owns ``path`` (option ``key``) while the block runs:
    a lock file beside it (``.NAME.lock``, holding the owner's process id) is locked with flock,
    which the system releases however the process ends. Another process that asks for it is
    refused with an OptionError naming the owner."""

    def __init__(self, path, key, choose=None):
        self.path, self.key, self.fd = os.fspath(path), key, None
        self.choose = choose or f"<{key}>"
        folder, name = _beside(self.path, ".", ".lock")
        self.lock_path = os.path.join(folder, name)

    def __enter__(self):
        if fcntl is None:
            return self
        make_folders(os.path.dirname(self.lock_path))
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                owner = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
                os.close(fd)
                if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise
                raise OptionError(f"<{self.key}> {self.path!r} is being written by another run (process {owner}); "
                                  f"wait for it to end, or choose another {self.choose}") from None
            try:  # the previous owner may have removed the file between our open and our lock
                if os.path.samestat(os.fstat(fd), os.stat(self.lock_path)):
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.lock_path)
            os.close(self.fd)
            self.fd = None
