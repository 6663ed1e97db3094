"""Image input: every mode to RGB, EXIF rotation, clear errors for bad files; atomic output."""

import io
import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from stylebatch.errors import InputError
from stylebatch.images import (
    encode,
    open_image,
    pil_to_tensor,
    save_image,
    sidecar_path,
    tensor_to_pil,
)

from .conftest import synthetic_photo
from .hostile import bomb_png


def test_grayscale_rgba_palette_cmyk_become_rgb(tmp_path):
    base = synthetic_photo(32, 24)
    rgba = base.convert("RGBA")
    rgba.putalpha(0)  # fully transparent: composited over white
    cases = {
        "gray.png": base.convert("L"),
        "rgba.png": rgba,
        "palette.gif": base.convert("P"),
        "cmyk.jpg": base.convert("CMYK"),
        "bw.png": base.convert("1"),
    }
    for name, img in cases.items():
        img.save(tmp_path / name)
        loaded = open_image(tmp_path / name).image
        assert loaded.mode == "RGB" and loaded.size == (32, 24), name
    assert np.asarray(open_image(tmp_path / "rgba.png").image).min() == 255


def test_16bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.full((8, 8), 32768, dtype=np.uint16)  # mid grey in 16 bits
    Image.fromarray(arr).save(tmp_path / "deep.png")
    loaded = np.asarray(open_image(tmp_path / "deep.png").image)
    assert abs(int(loaded[0, 0, 0]) - 128) <= 1


def test_exif_rotation_is_applied(tmp_path):
    img = synthetic_photo(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    img.save(tmp_path / "rot.jpg", exif=exif)
    assert open_image(tmp_path / "rot.jpg").image.size == (20, 40)


def test_animated_gif_uses_first_frame_and_says_so(tmp_path):
    frames = [synthetic_photo(16, 16, seed=i).convert("P") for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    loaded = open_image(tmp_path / "anim.gif")
    assert any("first frame" in note for note in loaded.notes)


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.jpg", b"", "empty file"),
        ("text.jpg", b"hello, I am not a picture\n", "not an image"),
        ("page.png", b"<html><body>404</body></html>", "not an image"),
    ],
)
def test_bad_files_name_the_file_and_cause(tmp_path, name, data, message):
    (tmp_path / name).write_bytes(data)
    with pytest.raises(InputError, match=message) as err:
        open_image(tmp_path / name)
    assert name in str(err.value)


def test_truncated_missing_and_directory(tmp_path):
    buf = io.BytesIO()
    synthetic_photo(64, 64).save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 3])
    with pytest.raises(InputError, match="truncated"):
        open_image(tmp_path / "cut.jpg")
    with pytest.raises(InputError, match="not found"):
        open_image(tmp_path / "nope.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(InputError, match="directory"):
        open_image(tmp_path / "dir.png")


def test_decompression_bomb_refused_before_decoding(tmp_path):
    (tmp_path / "bomb.png").write_bytes(bomb_png(100_000, 100_000))
    assert (tmp_path / "bomb.png").stat().st_size < 10_000
    with pytest.raises(InputError, match="over the limit"):
        open_image(tmp_path / "bomb.png")
    synthetic_photo(32, 32).save(tmp_path / "small.png")
    with pytest.raises(InputError, match="max_pixels"):
        open_image(tmp_path / "small.png", max_pixels=100)


def test_bytes_input_and_round_trip():
    img = synthetic_photo(20, 10)
    tensor = pil_to_tensor(open_image(encode(pil_to_tensor(img), "PNG"), name="mem.png").image)
    assert tensor.shape == (1, 3, 10, 20) and tensor.is_contiguous()
    assert np.array_equal(np.asarray(tensor_to_pil(tensor)), np.asarray(img))


def test_save_is_atomic_and_writes_a_sidecar(tmp_path):
    out = tmp_path / "déjà vu" / "out.jpg"
    save_image(torch.rand(1, 3, 16, 16), out, {"seed": 3})
    assert Image.open(out).format == "JPEG"
    assert json.loads(sidecar_path(out).read_text())["seed"] == 3
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.jpg", "out.jpg.json"]
    mode = out.stat().st_mode & 0o777
    assert mode == 0o666 & ~_umask()
    with pytest.raises(InputError, match="extension"):
        save_image(torch.rand(1, 3, 4, 4), tmp_path / "out.bmp")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
