"""Coverage-guided fuzzing (atheris) of refkit's parsers of outside input.

Fuzzes :meth:`refkit.CodeCodec.parse`, :meth:`refkit.TokenSigner.loads`,
:func:`refkit.money.to_amount` and :func:`refkit.money.to_currency` with inputs built by
``atheris.FuzzedDataProvider``: text over all of Unicode, bytes, ints of any size, floats,
Decimals and ``None``, mixed with mutations of real codes and tokens so the fuzzer gets past
the cheap checks. Each parser must return a value or raise its documented
:class:`refkit.RefkitError` subclass; anything else is a crash (libFuzzer saves the input).

atheris is not a dependency of refkit (it is a native extension, and has no wheel for every
Python): install it by hand into the virtualenv, then run a fixed budget::

    .venv/bin/pip install atheris
    .venv/bin/python tools/fuzz_codes.py -atheris_runs=2000000
    .venv/bin/python tools/fuzz_codes.py -max_total_time=120   # or a time budget

``make fuzz`` runs a short fixed budget. Other libFuzzer flags (``-seed=1``, a corpus
directory...) pass through. The figure of the last long run is in ``docs/performance.rst``.
"""

from __future__ import annotations

import contextlib
import sys
from decimal import Decimal
from typing import Any

import atheris

with atheris.instrument_imports(include=["refkit"]):
    import refkit
    from refkit.codes import ALPHABET, CodeCodec
    from refkit.money import to_amount, to_currency

SECRET = "fuzz-secret-key-0123456789abcdefghijklmnop"  # noqa: S105 (a throwaway key)
CODEC = CodeCodec([SECRET, "older-fuzz-secret-key-0123456789abcdefgh"])
SIGNER = refkit.TokenSigner(SECRET, "referral-cookie")
CODES = [CODEC.encode(number) for number in (0, 1, 12345, 2**23 - 1)]
TOKENS = [SIGNER.dumps(payload) for payload in ({"code": CODES[0]}, [1, "x"], None, "é")]
DECIMALS = ["NaN", "sNaN", "-Infinity", "1e999999", "1e-999999", "-0", "0e999999999"]


def _value(data: atheris.FuzzedDataProvider) -> Any:
    """Any kind of value a caller could pass, chosen by the fuzzer."""
    kind = data.ConsumeIntInRange(0, 11)
    if kind == 0:
        return data.ConsumeUnicode(64)  # any code point, lone surrogates included
    if kind == 1:
        return data.ConsumeBytes(64)
    if kind == 2:
        # Up to 4800 bits: under the 4300 digits past which repr() of an int raises (see
        # tests/test_fuzz.py::test_huge_ints_are_refused_with_refkit_errors).
        return data.ConsumeInt(data.ConsumeIntInRange(1, 600))
    if kind == 3:
        return data.ConsumeFloat()
    if kind == 4:
        return Decimal(data.PickValueInList(DECIMALS))
    if kind == 5:
        text = data.ConsumeUnicodeNoSurrogates(40)
        try:
            return Decimal(text)
        except ArithmeticError:
            return text
    if kind == 6:
        return None
    if kind == 7:  # a real code, one character changed
        code = list(data.PickValueInList(CODES))
        code[data.ConsumeIntInRange(0, len(code) - 1)] = data.PickValueInList(
            list(ALPHABET + ALPHABET.lower() + "-01 ")
        )
        return "".join(code)
    if kind == 8:  # a real token, one character changed or cut
        token = data.PickValueInList(TOKENS)
        at = data.ConsumeIntInRange(0, len(token) - 1)
        return token[:at] + data.ConsumeUnicode(1) + token[at + 1 :]
    if kind == 9:
        return [_value(data) for _ in range(data.ConsumeIntInRange(0, 3))]
    if kind == 10:
        return {data.ConsumeUnicode(8): _value(data)}
    return data.ConsumeString(64)  # ASCII-heavy text, the shape of codes and currencies


def _expect(call: Any, value: Any, errors: tuple[type[Exception], ...]) -> None:
    """Anything but ``errors`` propagates: atheris reports it as a crash, with the input."""
    with contextlib.suppress(errors):
        call(value)


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    target = data.ConsumeIntInRange(0, 3)
    value = _value(data)
    if target == 0:
        _expect(CODEC.parse, value, (refkit.InvalidCode,))
    elif target == 1:
        _expect(SIGNER.loads, value, (refkit.InvalidToken,))
    elif target == 2:
        _expect(to_amount, value, (refkit.ValidationError,))
    else:
        _expect(to_currency, value, (refkit.ValidationError,))


def main(argv: list[str]) -> None:
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
