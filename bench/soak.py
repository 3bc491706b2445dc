#!/usr/bin/env python3
"""Soak benchmark (not a test): mixed load against a release build of r0c on 127.0.0.1 for a
while, with random disconnects, reconnects, floods and clients that stop reading. It samples
the server's RSS and open file descriptors from /proc and prints them at the start, during the
run, and after every client has left, so a leak shows as a final figure above the baseline.

    cargo build --release && python3 bench/soak.py --minutes 30 --clients 60

Clients connect from 127.0.1.x source addresses, so the per-address limits stay on.
"""
import argparse, asyncio, os, random, socket, subprocess, sys, tempfile, time

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def fd_targets(pid):
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass
    return sorted(t if not t.startswith("socket:") else "socket" for t in targets)

def sample(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss, fds

class Stats:
    def __init__(self): self.connects = self.wizards = self.messages = self.floods = self.stalls = self.drops = 0

async def expect(reader, needle, buf, timeout=30):
    deadline = time.monotonic() + timeout
    while needle not in buf[0]:
        left = deadline - time.monotonic()
        if left <= 0: raise TimeoutError(needle)
        data = await asyncio.wait_for(reader.read(65536), left)
        if not data: raise ConnectionError("closed")
        buf[0] = (buf[0] + data.decode("utf-8", "replace"))[-20000:]
    buf[0] = buf[0][buf[0].index(needle) + len(needle):]

async def session(index, port, stats, end):
    source = ("127.0.1.%d" % (index % 250 + 1), 0)
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=source)
    stats.connects += 1
    buf = [""]
    try:
        first = await asyncio.wait_for(reader.read(65536), 30)
        buf[0] = first.decode("utf-8", "replace")
        if "verify that your config" in buf[0]:
            for key in "n\n\n":
                writer.write(key.encode()); await writer.drain(); await asyncio.sleep(0.02)
        await expect(reader, "qwer asdf", buf)
        for key in "qwer asdf\n\n":
            writer.write(key.encode()); await writer.drain(); await asyncio.sleep(0.05)
        await expect(reader, "nothing happened", buf)
        for answer, prompt in (("b", "does colours work?"), ("y", "which line looks like"), ("a", "r0c readme")):
            writer.write(answer.encode()); await writer.drain()
            await expect(reader, prompt, buf)
        stats.wizards += 1
        writer.write(b"\x1b[24;80R/join #soak%d\n" % (index % 4)); await writer.drain()
        stalled = random.random() < 0.1
        async def drain_output():
            while True:
                data = await reader.read(65536)
                if not data: return
        reading = None if stalled else asyncio.ensure_future(drain_output())
        if stalled: stats.stalls += 1
        lifetime = time.monotonic() + random.uniform(20, 180)
        while time.monotonic() < min(lifetime, end):
            roll = random.random()
            if roll < 0.05:
                stats.floods += 1
                writer.write(b"".join(b"flood line %d from %d\n" % (n, index) for n in range(30)))
            else:
                stats.messages += 1
                writer.write(b"message %d from client %d @all\n" % (stats.messages, index))
            await asyncio.wait_for(writer.drain(), 10)
            await asyncio.sleep(random.uniform(0.5, 4))
        if reading: reading.cancel()
    except (ConnectionError, TimeoutError, asyncio.TimeoutError, OSError):
        stats.drops += 1
    finally:
        writer.close()

async def client_loop(index, port, stats, end):
    await asyncio.sleep(random.uniform(0, 20))
    while time.monotonic() < end:
        await session(index, port, stats, end)
        await asyncio.sleep(random.uniform(1, 10))

async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--clients", type=int, default=60)
    parser.add_argument("--binary", default="target/release/r0c")
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of --minutes each against the same server; memory after "
                             "each round tells retained memory (flat) from a leak (growing)")
    args = parser.parse_args()
    telnet, raw = free_port(), free_port()
    data = tempfile.mkdtemp(prefix="r0c-soak-")
    server = subprocess.Popen([args.binary, "-i", "127.0.0.1", "-pt", str(telnet), "-pn", str(raw), "--web", "0", "--irc-listen", "0",
                               "--dir", data, "--stall-timeout", "30"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await asyncio.sleep(1.5)
        baseline = sample(server.pid)
        baseline_fds = fd_targets(server.pid)
        print(f"baseline: rss {baseline[0]} KiB, fds {baseline[1]}", flush=True)
        peak = baseline
        for round_number in range(1, args.rounds + 1):
            stats = Stats()
            end = time.monotonic() + args.minutes * 60
            tasks = [asyncio.ensure_future(client_loop(i, raw, stats, end)) for i in range(args.clients)]
            while time.monotonic() < end:
                await asyncio.sleep(30)
                now = sample(server.pid)
                peak = (max(peak[0], now[0]), max(peak[1], now[1]))
                print(f"{time.strftime('%H:%M:%S')} round {round_number}: rss {now[0]} KiB, fds {now[1]}, "
                      f"connects {stats.connects}, wizards {stats.wizards}, messages {stats.messages}, "
                      f"floods {stats.floods}, stalled {stats.stalls}, dropped {stats.drops}", flush=True)
            await asyncio.gather(*tasks, return_exceptions=True)
            # Stalled clients are dropped after --stall-timeout 30; freed memory goes back to
            # the OS once a minute.
            await asyncio.sleep(70)
            final = sample(server.pid)
            print(f"after round {round_number}, all clients gone: rss {final[0]} KiB (baseline {baseline[0]}), "
                  f"fds {final[1]} (baseline {baseline[1]})", flush=True)
        print(f"peak: rss {peak[0]} KiB, fds {peak[1]}")
        extra = list(fd_targets(server.pid))
        for target in baseline_fds:
            if target in extra:
                extra.remove(target)
        print(f"descriptors not open at the baseline: {extra}")
    finally:
        server.terminate(); server.wait()

asyncio.run(main())
