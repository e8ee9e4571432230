"""What machine a benchmark ran on, gathered automatically from /proc, /sys and the interpreter.

Theory of operation: :func:`describe` reads the CPU model and core count (/proc/cpuinfo,
``os.cpu_count``), memory (/proc/meminfo), the filesystem and block device holding the temporary
directory where the brokers keep their data (``os.statvfs``, /proc/mounts, /sys/block, and for
ext3/ext4 whether it has a journal, /proc/fs/jbd2; the device's cache mode), whether the VM hands
freed memory back to its host (/sys/bus/virtio), the kernel
(``uname``) and the versions of Python, confluent-kafka and librdkafka.  It also times a few small
write+fsync pairs on that filesystem, because a durable broker's acknowledgement waits on fsync.
:func:`render` turns the result into ``machine.md``.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except (OSError, ValueError):
        pass
    return None


def _mount_of(path: str) -> tuple[str, str, str]:
    """(device, mount point, fs type) of the longest mount point containing ``path``."""
    best = ("unknown", "/", "unknown")
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            device, mount, fstype = line.split()[:3]
            if path.startswith(mount) and len(mount) >= len(best[1]):
                best = (device, mount, fstype)
    except (OSError, ValueError):
        pass
    return best


def _rotational(device: str) -> str:
    name = Path(device).name
    flag = Path(f"/sys/block/{name}/queue/rotational")
    try:
        return "rotational" if flag.read_text().strip() == "1" else "non-rotational"
    except OSError:
        return "unknown"


def journal(device: str, fstype: str, jbd2: Path = Path("/proc/fs/jbd2")) -> str | None:
    """"journal" or "no journal" for an ext3/ext4 filesystem, None for any other or if unknown.

    The kernel lists one ``<device>-<inode>`` entry under /proc/fs/jbd2 per mounted filesystem that
    has a journal. It matters here: without one, each fdatasync of an appended file writes the
    file's inode block itself, synchronously (docs/performance.md, fourth round).
    """
    if fstype not in ("ext3", "ext4") or not device.startswith("/dev/"):
        return None
    try:
        entries = [entry.name for entry in jbd2.iterdir()]
    except OSError:  # no jbd2 at all (module not loaded): cannot tell
        return None
    name = Path(device).name
    return "journal" if any(e.rpartition("-")[0] == name for e in entries) else "no journal"


def write_cache(device: str, sys_block: Path = Path("/sys/block")) -> str:
    """The block device's cache mode as the kernel reports it: "write back" (a volatile cache, which
    an fsync must flush) or "write through"; "unknown" if it cannot be read."""
    try:
        return (sys_block / Path(device).name / "queue" / "write_cache").read_text().strip()
    except OSError:
        return "unknown"


_VIRTIO_BALLOON: Final = "0x0005"  # virtio device id
_BALLOON_F_REPORTING: Final = 5  # feature bit: free page reporting


def free_page_reporting(devices: Path = Path("/sys/bus/virtio/devices")) -> bool | None:
    """Whether this VM reports freed memory to its host (a virtio balloon with free page reporting),
    None if there is no virtio bus to look at.

    It matters for memory-hungry workloads: the host takes such memory back, and touching it again
    costs a host fault, about ten times the cost of writing to a reused page here
    (docs/performance.md, fifth round)."""
    try:
        entries = list(devices.iterdir())
    except OSError:
        return None
    for entry in entries:
        try:
            if (entry / "device").read_text().strip() != _VIRTIO_BALLOON:
                continue
            features = (entry / "features").read_text().strip()
        except OSError:
            continue
        if len(features) > _BALLOON_F_REPORTING and features[_BALLOON_F_REPORTING] == "1":
            return True
    return False


def fsync_ms(directory: str, rounds: int = 30) -> float:
    """Median time of one 4 KiB write + fsync in ``directory``."""
    samples = []
    fd, name = tempfile.mkstemp(dir=directory, prefix="bench-fsync-")
    try:
        block = os.urandom(4096)
        for _ in range(rounds):
            began = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            samples.append((time.perf_counter() - began) * 1000.0)
    finally:
        os.close(fd)
        os.unlink(name)
    return statistics.median(samples)


def describe() -> dict[str, Any]:
    tmp = tempfile.gettempdir()
    device, mount, fstype = _mount_of(os.path.realpath(tmp))
    stat = os.statvfs(tmp)
    has_journal = journal(device, fstype)
    kind = f", {has_journal}" if has_journal else ""
    info: dict[str, Any] = {
        "cpu_model": _cpu_model(),
        "cpu_cores": os.cpu_count(),
        "memory_gib": round(_mem_total_gib() or 0.0, 1),
        "memory_returned_to_host": {True: "yes (virtio balloon, free page reporting)", False: "no",
                                    None: "unknown"}[free_page_reporting()],
        "data_dir_filesystem": f"{device} on {mount} ({fstype}{kind}, {_rotational(device)}, "
                               f"write cache: {write_cache(device)})",
        "data_dir_disk_size_gib": round(stat.f_blocks * stat.f_frsize / 1024**3, 1),
        "data_dir_disk_free_gib": round(stat.f_bavail * stat.f_frsize / 1024**3, 1),
        "fsync_4k_median_ms": round(fsync_ms(tmp), 3),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()} ({sys.executable})",
    }
    try:
        import confluent_kafka

        version: Any = confluent_kafka.version()  # a str in 2.x, a (str, int) tuple in older releases
        info["confluent_kafka"] = version if isinstance(version, str) else version[0]
        info["librdkafka"] = confluent_kafka.libversion()[0]
    except ImportError:
        pass
    return info


LABELS = {
    "cpu_model": "CPU model",
    "cpu_cores": "Cores (logical)",
    "memory_gib": "Memory (GiB)",
    "memory_returned_to_host": "Freed memory returned to the host",
    "data_dir_filesystem": "Data-dir filesystem",
    "data_dir_disk_size_gib": "Disk size (GiB)",
    "data_dir_disk_free_gib": "Disk free at run time (GiB)",
    "fsync_4k_median_ms": "4 KiB write+fsync, median (ms)",
    "kernel": "Kernel",
    "python": "Python",
    "confluent_kafka": "confluent-kafka (load generator)",
    "librdkafka": "librdkafka",
}


def render(info: dict[str, Any], generated: str) -> str:
    lines = [
        "# Benchmark machine",
        "",
        f"Gathered automatically by `python -m bench` on {generated}.",
        "",
        "| what | value |",
        "| --- | --- |",
    ]
    for key, value in info.items():
        lines.append(f"| {LABELS.get(key, key)} | {value} |")
    lines += [
        "",
        "Broker and load generator share these cores: every figure is for both on one machine, "
        "all traffic on 127.0.0.1.",
    ]
    return "\n".join(lines) + "\n"
