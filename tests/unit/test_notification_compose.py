"""The e-mail a message goes out as: read back by the standard parser, it says what was
rendered, whichever path built it; no header can be smuggled in through a value."""

from __future__ import annotations

import io
from email import message_from_bytes, policy
from email.generator import BytesGenerator
from email.message import Message

import pytest

from services.notification.channels import Outgoing, compose


def wire(msg: Message) -> bytes:
    """What smtplib.send_message puts on the wire (it flattens the same way)."""
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=msg.policy.clone(linesep="\r\n")).flatten(msg)
    return out.getvalue()


@pytest.mark.parametrize(("address", "subject"), [
    ("inquirer@example.cn", "【首问】您的咨询已受理 SWB00000001"),
    ("inquirer@example.cn", "Your inquiry SWB00000001 was received"),
    ("张三@例子.中国", "【首问】您的咨询已受理"),  # SMTPUTF8: the EmailMessage path
    ("inquirer@example.cn", "【首问】" * 40),  # folded over several lines
    ("inquirer@example.cn", "x" * 300),  # one word longer than a line
])
def test_the_message_reads_back_as_rendered(address: str, subject: str) -> None:
    body = "您好张三：\n您的咨询已受理，受理编号 SWB00000001。\nFrom the window: 李娜\n" * 3
    out = Outgoing("0190-event/inquirer/email", address, subject, body)
    raw = wire(compose("shouwen@localhost", out))
    back = message_from_bytes(raw, policy=policy.default)
    assert back["Subject"] == subject
    assert back["To"] == address
    assert back["From"] == "shouwen@localhost"
    assert back["Message-ID"] == out.message_id
    assert back["Date"]
    assert back.get_content_type() == "text/plain"
    assert back.get_content().replace("\r\n", "\n") == body
    if address.isascii():
        raw.decode("ascii")  # 7-bit clean on the wire: any relay takes it


@pytest.mark.parametrize("field", ["subject", "address"])
@pytest.mark.parametrize("value", ["a\r\nBcc: evil@example.cn", "中文\nBcc: evil@example.cn"])
def test_a_line_break_in_a_header_value_is_refused(field: str, value: str) -> None:
    parts = {"key": "k", "address": "a@example.cn", "subject": "s", "body": "b", field: value}
    with pytest.raises(ValueError, match="line breaks"):
        compose("shouwen@localhost", Outgoing(**parts))
