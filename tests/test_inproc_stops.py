"""hexgate.inproc.StopFilter: stop strings cut out of streamed text, held back only while they may still match."""

from __future__ import annotations

import pytest

from hexgate.inproc import StopFilter


def run_filter(stops: tuple[str, ...], pieces: list[str]) -> tuple[list[str], bool]:
    f = StopFilter(stops)
    out: list[str] = []
    for piece in pieces:
        text, stopped = f.feed(piece)
        out.append(text)
        if stopped:
            return out, True
    out.append(f.flush())
    return out, False


@pytest.mark.parametrize(
    ("stops", "pieces", "emitted", "stopped"),
    [
        ((), ["a", "b"], ["a", "b", ""], False),
        (("END",), ["Hello", " world"], ["Hello", " world", ""], False),
        (("END",), ["Hello E", "N", "D more"], ["Hello ", "", ""], True),
        (("END",), ["Hello E", "x"], ["Hello ", "Ex", ""], False),
        (("END",), ["Hello EN"], ["Hello ", "EN"], False),
        (("\n\n",), ["a\n", "\nb"], ["a", ""], True),
        (("xy", "b"), ["axy"], ["a"], True),
        (("xy", "b"), ["ab xy"], ["a"], True),
        (("END",), ["END"], [""], True),
    ],
)
def test_stop_filter_pieces(stops: tuple[str, ...], pieces: list[str], emitted: list[str], stopped: bool) -> None:
    assert run_filter(stops, pieces) == (emitted, stopped)


@pytest.mark.parametrize(
    ("stops", "pieces", "text", "stopped"),
    [
        ((), ["ab", "cd"], "abcd", False),
        (("END",), ["hello E", "N", "D tail"], "hello ", True),
        (("END",), ["hello E", "N", "x"], "hello ENx", False),
        (("END",), ["hello EN"], "hello EN", False),
        (("\n\n", "."), ["one", " two.", " three"], "one two", True),
        (("ab", "b"), ["xab"], "x", True),
    ],
)
def test_stop_filter_text(stops: tuple[str, ...], pieces: list[str], text: str, stopped: bool) -> None:
    emitted, was_stopped = run_filter(stops, pieces)
    assert ("".join(emitted), was_stopped) == (text, stopped)


def test_stop_filter_holds_only_a_possible_prefix() -> None:
    f = StopFilter(("STOP",))
    assert f.feed("abc ST") == ("abc ", False)
    assert f.feed("x") == ("STx", False)
