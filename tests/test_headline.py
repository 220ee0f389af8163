"""The headline figures (views/headline.py): the names and values the Image pane and the summary
strip share, pending before the analysis, and the top wastes."""

from __future__ import annotations

from builder import File, Hardlink, Img, Layer, Whiteout, docker_archive, open_image

from layerscope.views import headline


def test_figures_and_top_wastes(tmp_path):
    image = open_image(
        docker_archive(
            tmp_path / "a.tar",
            [
                Img(
                    [
                        Layer(
                            File("big", b"b" * 3000),
                            File("kept", b"k" * 2000),
                            Hardlink("link", "kept"),
                            File("small", b"s" * 10),
                            File("mid", b"m" * 500),
                            File("tiny", b"t"),
                        ),
                        Layer(Whiteout("big"), Whiteout("kept"), Whiteout("small")),
                        Layer(Whiteout("mid"), Whiteout("tiny")),
                    ]
                )
            ],
        )
    )
    figures = headline.headline(image, analysed=True)
    assert [(f.name, f.value, f.tone) for f in figures] == [
        ("Size", "5.5 kB", ""),
        ("Final size", "2.0 kB", ""),
        ("Reclaimable", "3.5 kB (63.7 %)", "warning"),
        ("dive efficiency", figures[3].value, figures[3].tone),
    ]
    assert image.reclaimable_bytes == 3511 and image.size == 5511
    # the largest reclaimable files: "kept" is kept by its hardlink, so it is not one
    assert [(h.path, h.size, h.layer, h.hidden_by) for h in headline.top_wastes(image)] == [
        ("big", 3000, 0, 1),
        ("mid", 500, 0, 2),
        ("small", 10, 0, 1),
    ]
    assert [h.path for h in headline.top_wastes(image, 5)] == ["big", "mid", "small", "tiny"]


def test_pending_and_unavailable_before_the_figures():
    pending = headline.headline(None, analysed=False)  # type: ignore[arg-type]
    assert [(f.name, f.value, f.known) for f in pending] == [
        (name, "pending", False) for name in headline.NAMES
    ]
    failed = headline.headline(None, analysed=False, failed=True)  # type: ignore[arg-type]
    assert {(f.value, f.tone) for f in failed} == {("unavailable", "error")}
