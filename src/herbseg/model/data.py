"""Training data: frame/mask pairs, augmentation, and seeding that survives workers and resumes.

Randomness of augmentation is derived from ``(seed, epoch, sample index)`` rather than from
per-worker generator state. That makes an epoch's augmented batches identical whatever the
number of DataLoader workers and whichever worker gets a sample, and lets a resumed run replay
exactly the batches an uninterrupted run would have seen, without saving worker RNG state.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from herbseg.io.files import sha256_file
from herbseg.io.images import load_rgb, read_mask
from herbseg.model.augment import REAL_KEYS, real_transforms
from herbseg.model.network import preprocess

AUGMENT_KEYS = ("rotate", "hflip", "vflip", "brightness", *REAL_KEYS)


def build_augmentation(cfg: dict[str, Any], size: int | None = None) -> A.Compose:
    """The paper's augmentation: rotation, flips and brightness, at the frame's size or ``size``.

    ``size`` (``train.size``) first brings each frame and mask down to ``size``×``size``: the
    network then trains on smaller frames than predict gives it, and sees every leaf a little
    larger at prediction than in training, so its outlines come out finer (pointed tips and
    petiole bases are where a 256-px frame of a 2000×3000 sheet loses length; measured in
    BENCHMARKS.md). Done before the other transforms, which then work on fewer pixels.

    ``rotate`` is a maximum angle in degrees (uniform in ±rotate, applied to every sample; 0 turns
    it off), ``hflip``/``vflip`` are probabilities and ``brightness`` a maximum relative change
    (uniform in ±brightness). Corners uncovered by rotation are filled by reflection so that no
    artificial black wedges (which would look like dark leaves) appear; masks are rotated with
    nearest-neighbour so they stay binary. Unknown keys are rejected because a typo would
    otherwise silently disable an augmentation.
    """
    unknown = set(cfg) - set(AUGMENT_KEYS)
    if unknown:
        raise ValueError(f"unknown augmentation keys {sorted(unknown)}; known: {AUGMENT_KEYS}")
    rotate = float(cfg.get("rotate", 0) or 0)
    hflip = float(cfg.get("hflip", 0) or 0)
    vflip = float(cfg.get("vflip", 0) or 0)
    brightness = float(cfg.get("brightness", 0) or 0)
    for name, p in (("hflip", hflip), ("vflip", vflip)):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"augment.{name} is a probability in [0, 1], got {p}")
    if rotate < 0 or brightness < 0:
        raise ValueError("augment.rotate and augment.brightness must be >= 0")
    transforms: list[A.BasicTransform] = []
    if size is not None:
        transforms.append(
            A.Resize(
                size,
                size,
                interpolation=cv2.INTER_AREA,
                mask_interpolation=cv2.INTER_NEAREST,
                p=1.0,
            )
        )
    if rotate > 0:
        transforms.append(
            A.Rotate(
                limit=rotate,
                interpolation=cv2.INTER_LINEAR,
                mask_interpolation=cv2.INTER_NEAREST,
                border_mode=cv2.BORDER_REFLECT_101,
                crop_border=False,
                p=1.0,
            )
        )
    if hflip > 0:
        transforms.append(A.HorizontalFlip(p=hflip))
    if vflip > 0:
        transforms.append(A.VerticalFlip(p=vflip))
    if brightness > 0:
        transforms.append(
            A.RandomBrightnessContrast(brightness_limit=brightness, contrast_limit=0.0, p=1.0)
        )
    transforms += real_transforms(cfg)  # hue, paper, stains, table, JPEG (herbseg.model.augment)
    return A.Compose(transforms, seed=0)


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """A well-mixed 32-bit seed for one sample of one epoch (SeedSequence avoids correlations)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(1)[0])


class FrameDataset(Dataset):
    """Frame/mask pairs as ``(3×H×W float, 1×H×W float)`` tensors normalised by ``preprocess``.

    An index may be a plain ``int`` (no seeding: validation, or ad-hoc use) or an
    ``(index, seed)`` pair from :class:`SeededSampler`, which fixes the augmentation of that draw.
    """

    def __init__(
        self,
        image_paths: Sequence[str | os.PathLike],
        mask_paths: Sequence[str | os.PathLike],
        transform: A.Compose | None = None,
        normalisation: dict[str, Any] | None = None,
    ):
        if len(image_paths) != len(mask_paths):
            raise ValueError(f"{len(image_paths)} images but {len(mask_paths)} masks")
        self.image_paths = [Path(p) for p in image_paths]
        self.mask_paths = [Path(p) for p in mask_paths]
        self.transform = transform
        self.normalisation = (
            normalisation  # the encoder's (herbseg.model.network.normalisation_for)
        )

    def __len__(self) -> int:
        return len(self.image_paths)

    def __getitem__(self, key: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, seed = key if isinstance(key, tuple) else (key, None)
        image = load_rgb(self.image_paths[index])
        mask = read_mask(self.mask_paths[index])
        if image.shape[:2] != mask.shape:
            raise ValueError(
                f"{self.image_paths[index].name}: frame {image.shape[:2]} and mask {mask.shape}"
                " differ in size"
            )
        if self.transform is not None:
            if seed is not None:
                # One shared generator for all transforms: set_random_seed would give every
                # transform the same stream, e.g. making hflip and vflip always coincide.
                self.transform.set_random_state(np.random.default_rng(seed), random.Random(seed))
            out = self.transform(image=image, mask=mask.astype(np.uint8))
            image, mask = out["image"], out["mask"].astype(bool)
        x = preprocess(image[None], normalisation=self.normalisation)[0]
        y = torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))[None]
        return x, y


class SeededSampler(Sampler):
    """Shuffles per epoch from ``(seed, epoch)`` and hands each draw its augmentation seed."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n = n
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = np.arange(self.n)
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        for i in order.tolist():
            yield i, sample_seed(self.seed, self.epoch, i)


def data_checksum(paths: Sequence[str | os.PathLike]) -> str:
    """sha256 over the sorted ``(file name, sha256 of file)`` list: names a training set by content.

    Directories are left out on purpose, so moving a results folder keeps the checksum.
    """
    entries = sorted((Path(p).name, sha256_file(p)) for p in paths)
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def split_ids_hash(train_ids: Sequence[str], val_ids: Sequence[str]) -> str:
    """sha256 of the sorted train and val sheet ids: tells whether two models saw the same split."""
    payload = {"train": sorted(train_ids), "val": sorted(val_ids)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def data_facts(
    train_items: Sequence[tuple[Path, Path]], val_items: Sequence[tuple[Path, Path]]
) -> dict[str, Any]:
    """What a model card says of its training data: checksums of the files and of the split, and
    the counts; two models with equal checksums were trained on the same frames and masks."""
    paths = [p for item in (*train_items, *val_items) for p in item]
    return {
        "training_data_sha256": data_checksum(paths),
        "split_ids_sha256": split_ids_hash(
            [Path(i).stem for i, _ in train_items], [Path(i).stem for i, _ in val_items]
        ),
        "n_train": len(train_items),
        "n_val": len(val_items),
    }
