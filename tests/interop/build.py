"""Build the Java and Node interop test services once, and rebuild only when their sources change.

Java: `mvn -q -B package` in `java/` (kafka-clients and the OpenTelemetry Java agent from Maven Central into
`java/target`). Node: `npm ci` in `node/` (exact versions from the committed package-lock.json). A build is
skipped when the content hash of its inputs matches the stamp left by the last successful build, and a file
lock keeps two test processes from building the same folder at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
JAVA_DIR = HERE / "java"
NODE_DIR = HERE / "node"
MAIN_CLASS = "eventlens.interop.Main"

_HINTS = {
    "java": "install a Java 17+ JDK (Debian: apt-get install openjdk-17-jdk-headless)",
    "mvn": "install Apache Maven (Debian: apt-get install maven)",
    "node": "install Node.js 20+ (Debian: apt-get install nodejs)",
    "npm": "install npm (Debian: apt-get install npm)",
}


class InteropBuildError(RuntimeError):
    """A tool is missing or a build failed; the message says which and why."""


def require(tool: str) -> str:
    """The absolute path of `tool` on PATH, or an InteropBuildError telling how to install it."""
    found = shutil.which(tool)
    if found is None:
        raise InteropBuildError(f"`{tool}` is not on PATH; the interop tests need it: {_HINTS.get(tool, '')}")
    return found


def content_hash(files: Iterable[Path], base: Path) -> str:
    """SHA-256 over the relative names and bytes of `files` (sorted), so any edit changes it."""
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(base)).encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock for `folder` (other processes wait); the lock file lives in the temp dir."""
    name = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    with (Path(tempfile.gettempdir()) / f"eventlens-interop-{name}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _run(cmd: list[str], cwd: Path, timeout_s: float) -> None:
    """Run a build command; on failure raise with its output tail."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise InteropBuildError(f"`{' '.join(cmd)}` in {cwd} took longer than {timeout_s:.0f} s") from exc
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-4000:]
        raise InteropBuildError(f"`{' '.join(cmd)}` in {cwd} failed (exit {proc.returncode}):\n{tail}")


@dataclass(frozen=True, slots=True)
class JavaBuild:
    """A built Java service: its classes, runtime jars and the agent jar."""

    classes: Path
    lib: Path
    agent: Path

    def command(self, *args: str) -> list[str]:
        """The `java` command line running the service under the agent with `args`."""
        return [
            require("java"),
            f"-javaagent:{self.agent}",
            "-XX:TieredStopAtLevel=1",
            "-XX:+UseSerialGC",
            "-Xss512k",
            "-Xmx256m",
            "-cp",
            f"{self.classes}:{self.lib}/*",
            MAIN_CLASS,
            *args,
        ]


@dataclass(frozen=True, slots=True)
class NodeBuild:
    """An installed Node service: its folder and entry script."""

    folder: Path

    def command(self, *args: str) -> list[str]:
        """The `node` command line running the service with `args`."""
        return [require("node"), str(self.folder / "service.js"), *args]


def build_java(timeout_s: float = 1200.0) -> JavaBuild:
    """Build the Java service with Maven unless its sources are unchanged since the last build."""
    require("java")
    mvn = require("mvn")
    target = JAVA_DIR / "target"
    agent = target / "agent" / "opentelemetry-javaagent.jar"
    result = JavaBuild(classes=target / "classes", lib=target / "lib", agent=agent)
    inputs = [JAVA_DIR / "pom.xml", *sorted((JAVA_DIR / "src").rglob("*.java"))]
    want = content_hash(inputs, JAVA_DIR)
    stamp = target / ".build-hash"
    with _locked(JAVA_DIR):
        fresh = result.agent.is_file() and (result.classes / "eventlens").is_dir() and result.lib.is_dir()
        if fresh and stamp.is_file() and stamp.read_text() == want:
            return result
        _run([mvn, "-q", "-B", "package"], JAVA_DIR, timeout_s)
        if not result.agent.is_file():
            raise InteropBuildError(f"Maven finished but {result.agent} is missing")
        stamp.write_text(want)
    return result


def build_node(timeout_s: float = 600.0) -> NodeBuild:
    """Install the Node service's packages with `npm ci` unless package-lock.json is unchanged since then."""
    require("node")
    npm = require("npm")
    modules = NODE_DIR / "node_modules"
    want = content_hash([NODE_DIR / "package.json", NODE_DIR / "package-lock.json"], NODE_DIR)
    stamp = modules / ".build-hash"
    with _locked(NODE_DIR):
        if stamp.is_file() and stamp.read_text() == want:
            return NodeBuild(NODE_DIR)
        _run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], NODE_DIR, timeout_s)
        stamp.write_text(want)
    return NodeBuild(NODE_DIR)


if __name__ == "__main__":
    print(build_java())
    print(build_node())
