"""irctest controller for r0c's IRC listener (`--irc-listen`).

Select it with `pytest --controller r0c` and this directory on PYTHONPATH (tests/irctest.sh
does both). It starts the r0c binary (R0C_BIN, else target/debug/r0c of this checkout) with a
temporary app dir, the IRC listener on the port irctest picked and every other listener off.
Localhost is not made an administrator (`--ara`), so the clients are ordinary users.
"""

import atexit
import os
import socket
import time
from pathlib import Path
from typing import Optional, Type

from irctest.basecontrollers import (
    BaseServerController,
    DirectoryBasedController,
    NotImplementedByController,
)
from irctest.specifications import Capabilities, OptionalBehaviors

REPO = Path(__file__).resolve().parents[2]

# Every server this controller started. irctest stops a server in the test's tearDown, which
# unittest skips when setUp fails (a skip raised there, say): the servers still running when
# the test process exits are stopped then, so none outlives the suite.
_STARTED = []


@atexit.register
def _stop_leftovers() -> None:
    for proc in _STARTED:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except Exception:
                proc.kill()


def r0c_binary() -> str:
    return os.environ.get("R0C_BIN") or str(REPO / "target" / "debug" / "r0c")


class R0cController(BaseServerController, DirectoryBasedController):
    software_name = "r0c"
    _port_wait_interval = 0.05
    supported_sasl_mechanisms = {"PLAIN"}
    supports_sts = False

    capabilities = frozenset(
        (
            Capabilities.ACCOUNT_TAG,
            Capabilities.AWAY_NOTIFY,
            Capabilities.BATCH,
            Capabilities.ECHO_MESSAGE,
            Capabilities.EXTENDED_JOIN,
            Capabilities.LABELED_RESPONSE,
            Capabilities.MESSAGE_TAGS,
            Capabilities.MULTI_PREFIX,
            Capabilities.READ_MARKER,
            Capabilities.SERVER_TIME,
        )
    )

    optional_behaviors = frozenset(
        (
            OptionalBehaviors.CAP_REQ_MINUS,
            OptionalBehaviors.MULTI_JOIN,
            OptionalBehaviors.MULTI_PRIVMSG,
            OptionalBehaviors.NO_CTCP,
        )
    )

    def get_hostname_and_port(self):
        # irctest's finder answers 0.0.0.0; r0c listens, and the clients connect, on loopback
        # only, never on every interface of the machine running the tests.
        _, port = super().get_hostname_and_port()
        return ("127.0.0.1", port)

    def run(
        self,
        hostname: str,
        port: int,
        *,
        password: Optional[str],
        ssl: bool,
        run_services: bool,
        faketime: Optional[str],
        websocket_hostname: Optional[str],
        websocket_port: Optional[int],
    ) -> None:
        if websocket_hostname is not None or websocket_port is not None:
            raise NotImplementedByController("Websocket")
        if password is not None:
            # r0c has no connection password: PASS is accepted and ignored.
            raise NotImplementedByController("PASS")
        assert self.proc is None
        self.port = port
        self.hostname = hostname
        self.create_config()
        assert self.directory
        args = [
            r0c_binary(),
            "-i", hostname,
            "-pt", "0", "-pn", "0", "--web", "0", "--ssh", "0",
            "--ara", "--irc-name", "My.Little.Server",
            # irctest sends faster than any person types; other servers turn their "fakelag"
            # off for it too.
            "--no-flood-limit",
            # OPER NAME PASSWORD is r0c's /auth PASSWORD; irctest's operator password:
            "--pw", "operpassword",
            "--dir", str(self.directory / "app"),
        ]
        if ssl:
            self.gen_ssl()
            args += [
                "--irc-listen", "0",
                "--irc-listen-tls", str(port),
                "--cert", str(self.pem_path),
                "--key", str(self.key_path),
            ]
        else:
            args += ["--irc-listen", str(port), "--irc-listen-tls", "0"]
        self.proc = self.execute(args)
        _STARTED.append(self.proc)

    def wait_for_services(self) -> None:
        # Accounts are r0c's own: there are no services to wait for.
        pass

    def registerUser(self, case, username: str, password: Optional[str] = None) -> None:
        """Registers `username` with r0c's own REGISTER command (`/register PASS`), over IRC."""
        assert password
        client = case.addClient(show_io=False)
        case.sendLine(client, "NICK " + username)
        case.sendLine(client, "USER r e g :user")
        while case.getRegistrationMessage(client).command != "001":
            pass
        case.getMessages(client)
        case.sendLine(client, "REGISTER " + password)
        deadline = time.time() + 20
        while time.time() < deadline:
            notices = [
                msg.params[-1].strip()
                for msg in case.getMessages(client)
                if (msg.command == "NOTICE" and msg.params[-1] != "checking...")
                or msg.command.startswith("4")
            ]
            if any("is your account now" in text for text in notices):
                case.sendLine(client, "QUIT")
                case.assertDisconnected(client)
                return
            if notices:
                # r0c's account rules refused it (irctest's passwords are shorter than
                # r0c's 8 characters): the test cannot run here. This is often in a test's
                # setUp, after which unittest runs no tearDown: stop the server here, or it
                # would outlive the suite.
                if self.proc:
                    self.kill_proc()
                raise NotImplementedByController(
                    "account registration: " + " ".join(notices)
                )
        raise AssertionError("REGISTER got no answer")


def get_irctest_controller_class() -> Type[R0cController]:
    return R0cController
