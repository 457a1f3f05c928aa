"""Charset labels are read through the WHATWG label table, in bodies and in encoded-word headers."""
import base64

import pytest

from chalicelib.channels.email.charsets import decode, python_codec, with_whatwg_charsets
from chalicelib.channels.email.mime import parse_email

# 訂單 are GBK (not GB2312) characters: real Chinese mail labelled gb2312 carries them.
_CHINESE = "您好，我的訂單还没有到。"


def _gb2312_labelled_mail() -> bytes:
    subject = base64.b64encode("訂單问题".encode("gbk")).decode()
    name = base64.b64encode("王鎔".encode("gbk")).decode()
    return (f"From: =?gb2312?B?{name}?= <wang@example.cn>\r\nTo: support@relaydesk.example\r\n"
            f"Subject: =?GB2312?B?{subject}?=\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=\"gb2312\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() \
        + _CHINESE.encode("gbk") + b"\r\n"


def test_a_gb2312_label_on_gbk_text_reads_right_in_subject_name_and_body():
    mail = parse_email(_gb2312_labelled_mail())

    assert mail.subject == "訂單问题"
    assert mail.from_name == "王鎔"
    assert mail.text_body.strip() == _CHINESE
    assert mail.defects == []


@pytest.mark.parametrize("label, codec", [
    ("gb2312", "gb18030"), ("GBK", "gb18030"), ("iso-8859-1", "cp1252"), ("latin1", "cp1252"),
    ("us-ascii", "cp1252"), ("ks_c_5601-1987", "cp949"), ("shift_jis", "cp932"), ("big5", "big5hkscs"),
    ("windows-874", "cp874"), ("utf-7", "utf-7"), ("iso-2022-kr", "iso2022_kr"),
])
def test_labels_map_to_the_decoder_the_standard_names(label, codec):
    assert python_codec(label) == codec


@pytest.mark.parametrize("label", ["x-unknown", "base64", "zlib", "a\x00b"])
def test_unknown_and_non_text_labels_have_no_codec(label):
    assert python_codec(label) is None


def test_iso_8859_1_text_with_windows_1252_quotes_and_euro_reads_right():
    raw = (b"From: a@example.com\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
           b"Content-Transfer-Encoding: 8bit\r\n\r\n\x93Pris\x94: 120 \x80 \x96 bl\xe5b\xe6r\r\n")
    mail = parse_email(raw)

    assert mail.text_body.strip() == "\u201cPris\u201d: 120 \u20ac \u2013 blåbær"
    assert mail.defects == []


def test_windows_1252_gaps_decode_to_c1_controls_as_the_standard_says():
    assert decode(b"a\x81b", "windows-1252") == "a\x81b"


def test_utf8_text_labelled_us_ascii_is_read_as_utf8_with_a_note():
    raw = ("From: a@example.com\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n".encode()
           + "Grüße aus Zürich".encode())
    mail = parse_email(raw)

    assert mail.text_body == "Grüße aus Zürich"
    assert any("labelled 'us-ascii'" in defect for defect in mail.defects)


def test_encoded_words_are_relabelled_and_other_text_is_left_alone():
    assert with_whatwg_charsets("=?gb2312?B?abc=?= x =?utf-8?q?y?=") == "=?gb18030?B?abc=?= x =?utf-8?q?y?="
    assert with_whatwg_charsets("=?us-ascii?q?a?= =?x-unknown?q?b?=") == "=?us-ascii?q?a?= =?x-unknown?q?b?="
    assert with_whatwg_charsets("no words =? here") == "no words =? here"
