"""Minival: seeded, stratified hold-out of the train split."""

import numpy as np
import pytest

from effnet.data import stratified_split
from effnet.data.split import PAPER_MINIVAL_IMAGES, minival_count


def test_fraction_and_count():
    assert minival_count(1000, 0.1) == 100
    assert minival_count(1000, 25) == 25
    assert minival_count(1000, 0) == 0
    assert PAPER_MINIVAL_IMAGES == 25_000
    with pytest.raises(ValueError):
        minival_count(1000, -1)
    with pytest.raises(ValueError):
        minival_count(1000, 2.5)


def test_stratified_and_disjoint():
    labels = [0] * 50 + [1] * 30 + [2] * 20
    train, mini = stratified_split(labels, 0.1, seed=0)
    assert sorted(train + mini) == list(range(100)) and not set(train) & set(mini)
    assert np.bincount(np.asarray(labels)[mini]).tolist() == [5, 3, 2]


def test_count_allotted_by_largest_remainder():
    labels = [0] * 7 + [1] * 7 + [2] * 6
    _, mini = stratified_split(labels, 5, seed=1)
    assert len(mini) == 5
    assert sorted(np.bincount(np.asarray(labels)[mini], minlength=3).tolist()) == [1, 2, 2]


def test_deterministic_by_seed():
    labels = list(np.random.default_rng(0).integers(0, 5, 200))
    assert stratified_split(labels, 0.2, 7) == stratified_split(labels, 0.2, 7)
    assert stratified_split(labels, 0.2, 7)[1] != stratified_split(labels, 0.2, 8)[1]


def test_refuses_to_empty_a_class():
    with pytest.raises(ValueError, match="no training image"):
        stratified_split(list(range(10)), 0.3)  # three one-image classes would be held out
    with pytest.raises(ValueError, match="no training image"):
        stratified_split([0] * 5 + [1] * 5, 9)  # 5 + 4: class 0 emptied
    with pytest.raises(ValueError):
        stratified_split([0, 1], 2)
    assert stratified_split([0, 1], 0) == ([0, 1], [])
