"""The cyclic garbage collector paused while big structures are built (model/gcpause.py): off
inside, on again after the last of several overlapping pauses, left off if it was off."""

from __future__ import annotations

import gc
import threading

from layerscope.model.gcpause import paused, pausing


def test_a_pause_turns_the_collector_off_and_on_again():
    assert gc.isenabled()
    with paused():
        assert not gc.isenabled()
    assert gc.isenabled()

    @pausing
    def work() -> bool:
        return gc.isenabled()

    assert work() is False and gc.isenabled()


def test_overlapping_pauses_in_two_threads_end_with_the_last():
    inside, release = threading.Event(), threading.Event()

    def other() -> None:
        with paused():
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=other)
    with paused():
        thread.start()
        assert inside.wait(10)
    assert not gc.isenabled()  # the other thread's pause goes on
    release.set()
    thread.join()
    assert gc.isenabled()


def test_a_collector_turned_off_stays_off():
    gc.disable()
    try:
        with paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_error_inside_still_ends_the_pause():
    try:
        with paused():
            raise ValueError("x")
    except ValueError:
        pass
    assert gc.isenabled()
