"""Share links and QR codes: a referrer's link made ready for each channel.

:func:`share_urls` turns one link per channel into the URL a share button opens (a
``mailto:`` with subject and body, WhatsApp, X, Facebook, Telegram, an SMS); every value is
percent-encoded with :func:`urllib.parse.quote`, so a link or a text with ``&``, ``#``, spaces
or non-ASCII letters arrives whole. :func:`qr_svg` draws a link as an SVG QR code (with
`segno <https://segno.readthedocs.io/>`_). :meth:`refkit.ReferralProgram.share_links` and
:meth:`refkit.ReferralProgram.qr_svg` use both with the user's links; the Flask extension
uses them with its landing links.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Final
from urllib.parse import quote

import segno

from .errors import ValidationError

__all__ = [
    "DEFAULT_SHARE_SUBJECT",
    "DEFAULT_SHARE_TEXT",
    "MAX_SHARE_TEXT_LENGTH",
    "QR_CHANNEL",
    "SHARE_CHANNELS",
    "qr_svg",
    "share_urls",
    "to_share_text",
]

#: The channels :func:`share_urls` makes a URL for, each the ``channel`` of its link.
SHARE_CHANNELS: Final = ("email", "whatsapp", "x", "facebook", "telegram", "sms")
#: The channel of the link a QR code holds.
QR_CHANNEL: Final = "qr"
#: The message put before the link (the ``share_text`` option of the program).
DEFAULT_SHARE_TEXT: Final = "I think you'll like this shop. Here is my invite link:"
#: The subject of the email (the ``share_subject`` option of the program).
DEFAULT_SHARE_SUBJECT: Final = "An invitation for you"
MAX_SHARE_TEXT_LENGTH: Final = 500
#: Module size in pixels and quiet zone in modules of :func:`qr_svg` (the quiet zone of 4
#: modules is what ISO/IEC 18004 asks, so every reader finds the code).
_QR_SCALE: Final = 4
_QR_BORDER: Final = 4


def to_share_text(value: object, name: str = "text") -> str:
    """A share message or subject: 1 to 500 characters, line breaks allowed, no other control
    characters.

    :raises ValidationError: naming ``name``.
    """
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= MAX_SHARE_TEXT_LENGTH:
        raise ValidationError(f"{name} must be a str of 1 to {MAX_SHARE_TEXT_LENGTH} characters")
    if any((ord(c) < 32 and c not in "\n\r\t") or 127 <= ord(c) < 160 for c in value):
        raise ValidationError(f"{name} must not contain control characters other than line breaks")
    if any(0xD800 <= ord(c) < 0xE000 for c in value):
        raise ValidationError(f"{name} contains a lone surrogate and is not valid Unicode text")
    return value.strip()


def _q(value: str) -> str:
    return quote(value, safe="")


def share_urls(links: Mapping[str, str], text: str, subject: str) -> dict[str, str]:
    """The share URL of each channel of :data:`SHARE_CHANNELS`, from ``links`` (one link per
    channel, each carrying its channel), the message ``text`` and the email's ``subject``.

    * ``"email"``: ``mailto:?subject=...&body=<text>%0D%0A%0D%0A<link>`` (RFC 6068);
    * ``"whatsapp"``: ``https://wa.me/?text=<text> <link>``;
    * ``"x"``: ``https://x.com/intent/tweet?text=<text>&url=<link>``;
    * ``"facebook"``: ``https://www.facebook.com/sharer/sharer.php?u=<link>`` (Facebook
      takes no prefilled text);
    * ``"telegram"``: ``https://t.me/share/url?url=<link>&text=<text>``;
    * ``"sms"``: ``sms:?&body=<text> <link>`` (the form both Android and iOS open).
    """
    email = text + "\r\n\r\n" + links["email"]  # RFC 6068: CRLF line breaks
    whatsapp = text + " " + links["whatsapp"]
    sms = text + " " + links["sms"]
    return {
        "email": f"mailto:?subject={_q(subject)}&body={_q(email)}",
        "whatsapp": f"https://wa.me/?text={_q(whatsapp)}",
        "x": f"https://x.com/intent/tweet?text={_q(text)}&url={_q(links['x'])}",
        "facebook": f"https://www.facebook.com/sharer/sharer.php?u={_q(links['facebook'])}",
        "telegram": f"https://t.me/share/url?url={_q(links['telegram'])}&text={_q(text)}",
        "sms": f"sms:?&body={_q(sms)}",
    }


def qr_svg(data: str, *, title: str = "QR code of the invite link") -> str:
    """``data`` (a link) as an SVG QR code: one ``<svg>`` element with its namespace, a
    ``viewBox``, a width and a height (4 pixels a module, a quiet zone of 4 modules), black
    on white, error correction level M or better; usable inline in HTML or saved as a file.

    ``title`` (escaped) is the accessible name. The link itself is only drawn, never written
    as text into the SVG, so no character in it can break the markup.
    """
    code = segno.make(data, error="m", micro=False)
    buffer = io.BytesIO()
    code.save(
        buffer,
        kind="svg",
        scale=_QR_SCALE,
        border=_QR_BORDER,
        dark="#000",
        light="#fff",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        title=title,
        svgclass="refkit-qr",
        lineclass=None,
    )
    svg = buffer.getvalue().decode("utf-8")
    size = (code.symbol_size(scale=1, border=_QR_BORDER)[0]) * _QR_SCALE
    return svg.replace("<svg ", f'<svg width="{size}" height="{size}" role="img" ', 1)
