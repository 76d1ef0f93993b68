from dcgan_sr import plots

HEADER = "step,g_loss,mse,content,adv,r1,d_loss,d_real,d_fake,val_psnr,val_mse\n"


def _history(path, rows):
    path.write_text(HEADER + "".join(f"{step},0.02,0.02,,,,,,,{psnr},0.02\n" for step, psnr in rows))
    return path


def test_validation_curves_draws_a_continuing_run_from_its_start_step(tmp_path):
    """The fine-tune's curve is placed at the step it started from: the same pixels each
    time, other pixels when the start moves."""
    base = _history(tmp_path / "base.csv", [(250, 23.2), (500, 23.5), (750, 23.6)])
    tune = _history(tmp_path / "tune.csv", [(250, 23.7), (500, 23.65)])

    def draw(start, name):
        return plots.validation_curves({"long run": (base, 0), "fine-tune": (tune, start)},
                                       tmp_path / name, bicubic_psnr=22.9).read_bytes()

    first = draw(500, "a.png")
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert draw(500, "b.png") == first
    assert draw(750, "c.png") != first
    marked = plots.validation_curves({"long run": (base, 0)}, tmp_path / "d.png", marked_step=500)
    unmarked = plots.validation_curves({"long run": (base, 0)}, tmp_path / "e.png")
    assert marked.read_bytes() != unmarked.read_bytes()
