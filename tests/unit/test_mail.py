"""The mail seam: choosing a mailer from settings, the outbox, and SMTP against a real server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from stockade.config import ConfigError, Settings, load_settings
from stockade.mail import MailError, Message, OutboxMailer, SmtpMailer, mailer_from_settings
from support.index import free_port
from support.smtp import read_outbox, smtp_sink

MESSAGE = Message(to="alice@example.test", subject="Hello ✓", body="Line one\nLien deux é\n")


@pytest.fixture
def base(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "data", environ={}, overrides={"mail_from": "idx <i@x.test>"})


def with_url(settings: Settings, url: str) -> Settings:
    return dataclasses.replace(settings, mail_url=url)


def test_empty_url_means_the_outbox(base: Settings) -> None:
    mailer = mailer_from_settings(base)
    assert isinstance(mailer, OutboxMailer)
    assert mailer.folder == base.data_dir / "outbox"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example", ("mail.example", 25, False, False, None, None)),
        ("smtp://mail.example?starttls=1", ("mail.example", 587, False, True, None, None)),
        ("smtps://mail.example", ("mail.example", 465, True, False, None, None)),
        (
            "smtp://us%40er:p%3Ass%2Fw@mail.example:2525?starttls=yes",
            ("mail.example", 2525, False, True, "us@er", "p:ss/w"),
        ),
        ("smtp://u:p@127.0.0.1:1025", ("127.0.0.1", 1025, False, False, "u", "p")),
    ],
)
def test_smtp_urls(base: Settings, url: str, expected: tuple[object, ...]) -> None:
    mailer = mailer_from_settings(with_url(base, url))
    assert isinstance(mailer, SmtpMailer)
    got = (
        mailer.host,
        mailer.port,
        mailer.implicit_tls,
        mailer.starttls,
        mailer.username,
        mailer.password,
    )
    assert got == expected
    assert mailer.sender == "idx <i@x.test>"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://mail.example", "must look like"),
        ("smtp://", "must look like"),
        ("smtp://mail.example:99999", "bad port"),
        ("smtp://mail.example?tls=1", "unknown option"),
        ("smtp://mail.example?starttls=maybe", "starttls must be"),
        ("smtps://mail.example?starttls=1", "already encrypted"),
        ("smtp://mail.example?timeout=soon", "timeout"),
        # A password must not cross the network in clear text.
        ("smtp://user:pw@mail.example", "unencrypted"),
    ],
)
def test_bad_urls_stop_start_up(base: Settings, url: str, complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        mailer_from_settings(with_url(base, url))


def test_outbox_writes_parseable_eml(base: Settings) -> None:
    mailer = mailer_from_settings(base)
    mailer.send(MESSAGE)
    mailer.send(dataclasses.replace(MESSAGE, subject="Second"))
    folder = base.data_dir / "outbox"
    assert not [p for p in folder.iterdir() if not p.name.endswith(".eml")]  # no temp files
    first, second = read_outbox(folder)
    assert first["To"] == "alice@example.test"
    assert first["From"] == "idx <i@x.test>"
    assert first["Subject"] == "Hello ✓"
    assert first["Message-ID"] and first["Date"]
    body = first.get_body(("plain",))
    assert body is not None and body.get_content() == MESSAGE.body
    assert second["Subject"] == "Second"


def test_outbox_failure_is_a_mail_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(MailError, match="outbox"):
        OutboxMailer(blocker / "outbox", "x@y.test").send(MESSAGE)


def test_plain_smtp_delivery(base: Settings) -> None:
    with smtp_sink() as sink:
        mailer_from_settings(with_url(base, sink.url())).send(MESSAGE)
        [message] = sink.wait_for(1)
    received = sink.received[0]
    assert received.rcpt_tos == ["alice@example.test"]
    assert received.login is None and not received.tls
    assert message["Subject"] == "Hello ✓"
    body = message.get_body(("plain",))
    assert body is not None
    # SMTP carries CRLF line ends.
    assert body.get_content().replace("\r\n", "\n") == MESSAGE.body


def test_starttls_with_login(base: Settings, tmp_path: Path) -> None:
    with smtp_sink(tls="starttls", credentials=("mailer", "s3cret:/@"), cert_dir=tmp_path) as sink:
        url = sink.url()
        assert "starttls=1" in url
        mailer_from_settings(with_url(base, url)).send(MESSAGE)
        sink.wait_for(1)
    received = sink.received[0]
    assert received.login == "mailer"
    assert received.tls


def test_wrong_password_is_a_mail_error(base: Settings, tmp_path: Path) -> None:
    with smtp_sink(tls="starttls", credentials=("mailer", "right"), cert_dir=tmp_path) as sink:
        url = sink.url().replace(":right@", ":wrong@")
        with pytest.raises(MailError, match="535"):
            mailer_from_settings(with_url(base, url)).send(MESSAGE)
    assert sink.received == []


def test_implicit_tls(base: Settings, tmp_path: Path) -> None:
    with smtp_sink(tls="implicit", credentials=("mailer", "pw"), cert_dir=tmp_path) as sink:
        assert sink.url().startswith("smtps://")
        mailer_from_settings(with_url(base, sink.url())).send(MESSAGE)
        sink.wait_for(1)
    assert sink.received[0].tls
    assert sink.received[0].login == "mailer"


def test_untrusted_certificate_is_refused(base: Settings, tmp_path: Path) -> None:
    # Without cafile the self-signed certificate is not trusted: no silent downgrade.
    with smtp_sink(tls="starttls", cert_dir=tmp_path) as sink:
        url = sink.url().split("&cafile=")[0]
        with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
            mailer_from_settings(with_url(base, url)).send(MESSAGE)
    assert sink.received == []


def test_unreachable_server_is_a_mail_error() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), sender="x@y.test", timeout=5)
    with pytest.raises(MailError, match=r"127\.0\.0\.1"):
        mailer.send(MESSAGE)


def test_outbox_logs_each_link_whole(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    link = "http://127.0.0.1:8080/account/verify-email/?token=" + "A1b2-C3d4_" * 12
    body = f"Open this link to verify your address:\n\n{link}\n\nOr this one: {link}.\n"
    caplog.set_level("WARNING", logger="stockade.mail.outbox")
    OutboxMailer(tmp_path / "outbox", "index@example.org").send(
        Message(to="a@example.org", subject="Verify", body=body)
    )
    (written,) = (tmp_path / "outbox").glob("*.eml")
    assert link not in written.read_text()  # quoted-printable cuts it into lines
    links = [r.getMessage() for r in caplog.records if "link in that mail" in r.getMessage()]
    assert links == [f"  link in that mail: {link}"]
