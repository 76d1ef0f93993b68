"""Batches for `fit`, as Keras PyDatasets (any backend, no TensorFlow needed).

`HRBatches`: uint8 HR crops of a prepared folder, shuffled and flipped (LR made in the
train step); `DegradedBatches`: (LR, HR) pairs made on the CPU by the realistic mix;
`PairBatches`: fixed validation pairs; `WorkerShare`: one worker's share of every batch.
"""

from __future__ import annotations

import keras
import numpy as np

from dcgan_sr import degrade
from dcgan_sr.pixels import to_model


def epoch_order(rng: np.random.Generator, count: int, need: int) -> tuple[np.ndarray, np.ndarray]:
    """`need` indices of `count` items for one epoch (shuffled, wrapping around the data),
    and whether each is flipped left-right."""
    rounds = -(-need // count)
    order = np.concatenate([rng.permutation(count) for _ in range(rounds)])[:need]
    return order, rng.random(need) < 0.5


class HRBatches(keras.utils.PyDataset):
    """uint8 HR batches from an array (memory-mapped or not), for any Keras backend.

    For training: shuffled each epoch, flipped left-right at random, `steps` batches an
    epoch of `batch_size` (drop remainder). For validation (`shuffle=False`): in order.
    """

    def __init__(self, hr: np.ndarray, batch_size: int, steps: int | None = None,
                 shuffle: bool = True, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.hr, self.batch_size, self.shuffle = hr, batch_size, shuffle
        self.steps = steps or -(-len(hr) // batch_size)
        self.rng = np.random.default_rng(seed)
        self._epoch_order()

    def _epoch_order(self):
        if self.shuffle:
            self.order, self.flips = epoch_order(self.rng, len(self.hr), self.steps * self.batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        if not self.shuffle:
            return np.asarray(self.hr[index * self.batch_size:(index + 1) * self.batch_size])
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        order = np.argsort(rows)  # sorted reads of a memory map, then back in random order
        batch = np.asarray(self.hr[rows[order]])[np.argsort(order)]
        flip = self.flips[index * self.batch_size:(index + 1) * self.batch_size]
        batch[flip] = batch[flip, :, ::-1]
        return batch

    def on_epoch_end(self):
        self._epoch_order()


class DegradedBatches(keras.utils.PyDataset):
    """(lr, hr) float batches in [-1, 1] made on the CPU by the realistic mix, for any backend.

    `windows` are square uint8 images of any side (a list, or an N x S x S x 3 array):
    shuffled each epoch, flipped left-right at random, each degraded by a fresh draw of
    `mix` seeded by (seed, epoch, position), so a run's data are reproducible.
    """

    def __init__(self, windows, mix: degrade.RealisticMix, batch_size: int, steps: int,
                 seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.windows, self.mix, self.batch_size, self.steps = windows, mix, batch_size, steps
        self.seed, self.epoch = seed, 0
        self.rng = np.random.default_rng(seed)
        self._epoch_order()

    def _epoch_order(self):
        self.order, self.flips = epoch_order(self.rng, len(self.windows), self.steps * self.batch_size)

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        span = slice(index * self.batch_size, (index + 1) * self.batch_size)
        windows = [np.asarray(self.windows[i])[:, ::-1] if flip else np.asarray(self.windows[i])
                   for i, flip in zip(self.order[span], self.flips[span])]
        lr, hr = degrade.pairs(windows, self.mix, seed=self.seed * 100_003 + self.epoch,
                               first_index=span.start)
        return to_model(lr), to_model(hr)

    def on_epoch_end(self):
        self.epoch += 1
        self._epoch_order()


class PairBatches(keras.utils.PyDataset):
    """Fixed (lr, hr) uint8 arrays as [-1, 1] batches, in order (validation)."""

    def __init__(self, lr: np.ndarray, hr: np.ndarray, batch_size: int = 32, **kwargs):
        super().__init__(**kwargs)
        self.lr, self.hr, self.batch_size = lr, hr, batch_size

    def __len__(self):
        return -(-len(self.hr) // self.batch_size)

    def __getitem__(self, index):
        span = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return to_model(self.lr[span]), to_model(self.hr[span])


class WorkerShare(keras.utils.PyDataset):
    """One worker's contiguous share of every batch of `batches` (--strategy multiworker):
    worker i of n gets rows [i*b/n, (i+1)*b/n), so the workers' shares, put together in
    worker order, are exactly the batches one process would train on. Each worker reads
    (and, with the realistic mix, degrades) the whole global batch to keep its share:
    exact and simple, at n times the data work, which the train step outweighs."""

    def __init__(self, batches: keras.utils.PyDataset, index: int, count: int):
        super().__init__(workers=batches.workers, use_multiprocessing=batches.use_multiprocessing)
        self.batches, self.index, self.count = batches, index, count

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, position):
        return keras.tree.map_structure(self._share, self.batches[position])

    def _share(self, batch: np.ndarray) -> np.ndarray:
        if len(batch) % self.count:
            raise ValueError(f"a batch of {len(batch)} does not split over {self.count} workers")
        size = len(batch) // self.count
        return batch[self.index * size:(self.index + 1) * size]

    def on_epoch_end(self):
        self.batches.on_epoch_end()
