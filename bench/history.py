#!/usr/bin/env python3
"""History benchmark (not a test): a channel with a large stored history, timed on 127.0.0.1.

It seeds a temporary data directory with MESSAGES messages in the public channel #big, spread
evenly from 2018-01-01 to now (the schema is created by the release binary itself, the rows
are written with Python's sqlite3 the way src/store/mod.rs writes them). Then, per run, it
starts the server, connects a raw-TCP client as soon as the port accepts, walks the
first-connect wizard, joins #big, waits for the newest message on screen, sends
`/g 2019-06-01` and waits for that day's messages on screen. It prints min/median/max.

    cargo build --release && python3 bench/history.py --runs 5 --messages 1000000

Targets: server start (until the port accepts) plus the join (until the newest message is on
screen) under 1 s; `/g 2019-06-01` under 50 ms. The wizard is the client's typing and is shown
separately.

With --load-clients N it also measures what big joins do to everyone else: r0c-load
(target/release/r0c-load) runs N chatting clients for --load-seconds, once alone and once while
--joiners clients each join a channel of their own with the same history (#big, #big1, ...),
wait for their join line, part (the channel closes, so the next join reads the store again)
and join again, over and over. It prints r0c-load's chat latencies for both runs and how many
joins were made. `--no-flood-limit` lets the joiners join faster than the command budget
allows (the load's senders stay well within it anyway).

    cargo build --release --workspace
    python3 bench/history.py --runs 3 --messages 1000000 --load-clients 50 --joiners 2 \
        -- --no-flood-limit
"""
import argparse, datetime, os, select, shutil, signal, socket, sqlite3, statistics
import subprocess, sys, tempfile, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# R0C_RELEASE_DIR picks other binaries (an older build, to compare in the same sitting).
RELEASE = os.environ.get("R0C_RELEASE_DIR", os.path.join(ROOT, "target", "release"))
BINARY = os.path.join(RELEASE, "r0c")
LOADGEN = os.path.join(RELEASE, "r0c-load")
CHANNEL = "big"
START = datetime.datetime(2018, 1, 1, tzinfo=datetime.timezone.utc)
GOTO_DATE = "2019-06-01"
AUTHORS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def day_tag(micros):
    """The marker a message carries for its UTC day, spelled unlike the typed `/g` date."""
    day = datetime.datetime.fromtimestamp(micros / 1e6, datetime.timezone.utc)
    return "day " + day.strftime("%Y%m%d")


def newest_tag(count):
    return "n%d end" % (count - 1)


class Server:
    """The release binary on 127.0.0.1: raw port only, stdout read by a thread."""

    def __init__(self, data_dir, extra=()):
        self.port = free_port()
        self.command = [BINARY, "--dir", data_dir, "-i", "127.0.0.1", "-pt", "0",
                        "-pn", str(self.port), "--web", "0", "--irc-listen", "0", *extra]
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self.up = threading.Event()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self):
        for line in self.proc.stdout:
            if b"r0c is up" in line:
                self.up.set()

    def connect(self, timeout=20):
        """Connects as soon as the port accepts; returns the socket and the time it took."""
        deadline = time.perf_counter() + timeout
        while True:
            s = socket.socket()
            try:
                s.connect(("127.0.0.1", self.port))
                return s, time.perf_counter() - self.started
            except ConnectionRefusedError:
                s.close()
                if self.proc.poll() is not None:
                    raise RuntimeError("r0c exited with %s" % self.proc.returncode)
                if time.perf_counter() > deadline:
                    raise TimeoutError("r0c never accepted on port %d" % self.port)
                time.sleep(0.001)

    def stop(self):
        """SIGTERM, which commits everything and exits cleanly."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Client:
    """A raw-TCP client that looks for text in what the server sent since a given offset."""

    def __init__(self, sock):
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.received = bytearray()

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def expect(self, needles, since=0, timeout=20):
        """Waits until one of `needles` appears after offset `since`; returns its index and the
        moment it arrived."""
        needles = [n.encode() for n in needles]
        deadline = time.perf_counter() + timeout
        while True:
            # The whole buffer from `since` is searched, so a needle split over two reads is found.
            for index, needle in enumerate(needles):
                if self.received.find(needle, since) >= 0:
                    return index, time.perf_counter()
            left = deadline - time.perf_counter()
            if left <= 0:
                tail = bytes(self.received[-400:]).decode("utf-8", "replace")
                raise TimeoutError("never saw %r; last bytes: %r" % (needles, tail))
            ready, _, _ = select.select([self.sock], [], [], left)
            if ready:
                data = self.sock.recv(1 << 20)
                if not data:
                    raise ConnectionError("server closed the connection")
                self.received += data

    def wizard(self):
        """Types like a terminal in character mode (key by key, LF), no local echo, colours."""
        self.expect(["qwer asdf"])
        for key in "qwer asdf\n\n":
            self.send(key)
            time.sleep(0.02)
        linemode, _ = self.expect(["line-buffered", "nothing happened"])
        key = (lambda k: k + "\n") if linemode == 0 else (lambda k: k)
        mark = len(self.received)
        self.send(key("a" if linemode == 0 else "b"))
        self.expect(["does colours work?"], mark)
        mark = len(self.received)
        self.send(key("y"))
        self.expect(["which line looks like"], mark)
        mark = len(self.received)
        self.send(key("a"))
        self.expect(["r0c readme"], mark)
        self.send(b"\x1b[24;80R")


def seed(data_dir, count, channels=(CHANNEL,)):
    """Lets the binary create the schema, then inserts `count` messages into each of
    `channels` in one transaction."""
    server = Server(data_dir)
    if not server.up.wait(20):
        server.stop()
        raise RuntimeError("r0c did not start")
    server.stop()
    db = sqlite3.connect(os.path.join(data_dir, "r0c.db"))
    version = db.execute("PRAGMA user_version").fetchone()[0]
    # The columns written below exist since version 2; later steps only add columns with
    # defaults and tables of their own (the search index fills itself by trigger).
    if version < 2:
        raise RuntimeError("unexpected schema version %d" % version)
    start = int(START.timestamp() * 1_000_000)
    end = int(time.time() * 1_000_000) - 60_000_000
    step = (end - start) / max(count - 1, 1)

    def rows(channel_id):
        for seq in range(count):
            micros = start + int(seq * step)
            text = "%s n%d lorem ipsum dolor sit amet" % (day_tag(micros), seq)
            if seq == count - 1:
                text = "%s %s" % (day_tag(micros), newest_tag(count))
            yield channel_id, seq, micros, AUTHORS[seq % len(AUTHORS)], text

    with db:
        # What the writer does for a channel's first message (ENSURE_CHANNEL, INSERT_MESSAGE).
        for name in channels:
            db.execute("INSERT INTO channel (name) VALUES (?) ON CONFLICT (name) DO NOTHING",
                       (name,))
            channel_id = db.execute("SELECT id FROM channel WHERE name = ?",
                                    (name,)).fetchone()[0]
            db.executemany("INSERT INTO message (channel_id, seq, unix_micros, author, text) "
                           "VALUES (?, ?, ?, ?, ?)", rows(channel_id))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def reset(data_dir, count):
    """Removes what the previous run added (joins, parts, saved client settings)."""
    db = sqlite3.connect(os.path.join(data_dir, "r0c.db"))
    with db:
        db.execute("DELETE FROM message WHERE seq >= ?", (count,))
        db.execute("DELETE FROM client_config")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def run_once(data_dir, count, extra):
    server = Server(data_dir, extra)
    try:
        sock, listening = server.connect()
        client = Client(sock)
        wizard_start = time.perf_counter()
        client.wizard()
        wizard = time.perf_counter() - wizard_start
        mark = len(client.received)
        join_sent = time.perf_counter()
        client.send("/join #%s\n" % CHANNEL)
        _, shown = client.expect([newest_tag(count)], mark)
        join = shown - join_sent
        time.sleep(0.2)
        mark = len(client.received)
        goto_sent = time.perf_counter()
        client.send("/g %s\n" % GOTO_DATE)
        target = int(datetime.datetime.fromisoformat(GOTO_DATE + "T00:00:00+00:00")
                     .timestamp() * 1_000_000)
        try:
            _, shown = client.expect([day_tag(target)], mark, timeout=5)
            goto = shown - goto_sent
        except TimeoutError:
            # Jumping only within the history in memory lands on its oldest day instead.
            goto = None
        sock.close()
        return {"listening": listening, "wizard": wizard, "join": join,
                "ready": listening + join, "goto": goto}
    finally:
        server.stop()
        reset(data_dir, count)


def joined_channels(joiners):
    """The big channels: one per joiner, so each join reads its channel from the store."""
    return [CHANNEL] + ["%s%d" % (CHANNEL, i) for i in range(1, joiners)]


def chat_during_joins(data_dir, count, clients, seconds, rate, joiners, extra):
    """r0c-load's chat latencies while `joiners` clients (0: none) each join a channel of
    `count` messages, part and join again, over and over."""
    server = Server(data_dir, extra)
    stop = threading.Event()
    joins = []

    def joiner(channel):
        sock, _ = server.connect()
        client = Client(sock)
        client.wizard()
        while not stop.is_set():
            mark = len(client.received)
            sent = time.perf_counter()
            client.send("/join #%s\n" % channel)
            # Its own join line, below the history (the newest stored message scrolls out of
            # sight once enough join and part lines were stored after it).
            client.expect(["has joined"], mark, timeout=60)
            joins.append(time.perf_counter() - sent)
            mark = len(client.received)
            client.send("/part\n")
            client.expect(["r0c-status"], mark)
        sock.close()

    try:
        server.connect()[0].close()
        threads = [threading.Thread(target=joiner, args=(name,), daemon=True)
                   for name in joined_channels(joiners)[:joiners]]
        for thread in threads:
            thread.start()
        while threads and len(joins) < joiners:
            time.sleep(0.05)
        load = subprocess.run(
            [LOADGEN, "--port", str(server.port), "-n", str(clients), "-s", str(min(10, clients)),
             "-r", str(rate), "-t", str(seconds), "--pid", str(server.proc.pid),
             "--label", "joins" if joiners else "alone"],
            capture_output=True, text=True, timeout=seconds + 300)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        lines = [l for l in load.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError("r0c-load printed no result: %s" % load.stderr[-2000:])
        import json
        return json.loads(lines[-1]), joins
    finally:
        stop.set()
        server.stop()
        reset(data_dir, count)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--load-clients", type=int, default=0,
                        help="also time chat latency of this many r0c-load clients during joins")
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--load-rate", type=float, default=100.0)
    parser.add_argument("--joiners", type=int, default=1,
                        help="clients joining a big channel each (of their own) meanwhile")
    parser.add_argument("extra", nargs="*", help="more r0c flags, after --")
    args = parser.parse_args()
    if not os.access(BINARY, os.X_OK):
        sys.exit("build first: cargo build --release")
    data_dir = tempfile.mkdtemp(prefix="r0c-history-")
    try:
        began = time.perf_counter()
        seed(data_dir, args.messages,
             joined_channels(args.joiners) if args.load_clients else (CHANNEL,))
        size = os.path.getsize(os.path.join(data_dir, "r0c.db")) / 1e6
        print("seeded %d messages in #%s (%.0f MB) in %.1f s" %
              (args.messages, CHANNEL, size, time.perf_counter() - began))
        # One run to warm the page cache, as on a server that has run before; not counted.
        run_once(data_dir, args.messages, args.extra)
        results = [run_once(data_dir, args.messages, args.extra) for _ in range(args.runs)]
        print("command: %s --dir DIR -i 127.0.0.1 -pt 0 -pn PORT %s" %
              (os.path.relpath(BINARY, ROOT), " ".join(args.extra)))
        print("%d runs, milliseconds          min   median      max" % args.runs)
        rows = [
            ("start until port accepts", "listening"),
            ("wizard (client typing)", "wizard"),
            ("/join until newest shown", "join"),
            ("start + join (target <1000)", "ready"),
            ("/g %s (target <50)" % GOTO_DATE, "goto"),
        ]
        for label, key in rows:
            values = [r[key] * 1000 for r in results if r[key] is not None]
            if len(values) < len(results):
                print("%-30s %s" % (label, "day never shown in %d of %d runs" %
                                    (len(results) - len(values), len(results))))
            if values:
                print("%-30s %8.1f %8.1f %8.1f" %
                      (label, min(values), statistics.median(values), max(values)))
        if args.load_clients:
            if not os.access(LOADGEN, os.X_OK):
                sys.exit("build first: cargo build --release --workspace")
            print("chat latency of %d r0c-load clients (%.0f msg/s for %.0f s), ms:" %
                  (args.load_clients, args.load_rate, args.load_seconds))
            print("%-30s %8s %8s %8s %8s  %s" % ("", "p50", "p90", "p99", "max", "joins"))
            for joiners in (0, args.joiners):
                result, joins = chat_during_joins(
                    data_dir, args.messages, args.load_clients, args.load_seconds,
                    args.load_rate, joiners, args.extra)
                label = "while %d join big ones" % joiners if joiners else "alone"
                made = ("%d, median %.0f ms" % (len(joins), statistics.median(joins) * 1000)
                        if joins else "-")
                print("%-30s %8.1f %8.1f %8.1f %8.1f  %s" %
                      (label, result["p50_ms"], result["p90_ms"], result["p99_ms"],
                       result["max_ms"], made))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
