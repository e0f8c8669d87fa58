import pytest

from keras_layerlock import LayerLockSchedule


def test_state_is_a_pure_function_of_the_step():
    s = LayerLockSchedule(6000, 4000, num_layers_per_freeze=2, target_layers=[1, 3, 5, 7])
    assert s.event_steps == [6000, 10000, 14000, 18000]
    assert s.state_at(0) == (0, 0, 0)
    assert s.state_at(5999) == (0, 0, 0)
    assert s.state_at(6000) == (1, 2, 1)
    assert s.state_at(10500) == (2, 4, 3)
    assert s.state_at(10**9) == (4, 8, 7)
    assert LayerLockSchedule.from_config(s.get_config()).get_config() == s.get_config()


def test_default_targets_are_the_newest_frozen_block():
    s = LayerLockSchedule(100, 10, num_layers_per_freeze=1, max_frozen_layers=32)
    assert s.target_layers == list(range(1, 33))
    capped = LayerLockSchedule(0, 5, num_layers_per_freeze=5, max_frozen_layers=12)
    assert capped.target_layers == [5, 10, 12]
    assert [capped.num_frozen_layers_after(i) for i in (1, 2, 3)] == [5, 10, 12]


def test_paper_schedules_are_valid():
    LayerLockSchedule(160_000, 10_000, 1, target_layers=list(range(1, 33))).validate_for(44)
    LayerLockSchedule(100_000, 6_000, 1, target_layers=list(range(1, 25))).validate_for(24)
    LayerLockSchedule(25_000, 20_000, 5, target_layers=[4, 8, 12, 16]).validate_for(44)


def test_target_that_is_not_frozen_yet_is_rejected_naming_the_event():
    with pytest.raises(ValueError, match=r"event 2 \(step 30\).*block 5.*1\.\.4"):
        LayerLockSchedule(10, 20, num_layers_per_freeze=2, target_layers=[1, 5])
    with pytest.raises(ValueError, match="event 1"):
        LayerLockSchedule(10, 20, target_layers=[0])


def test_freezing_more_blocks_than_the_encoder_has_is_rejected():
    s = LayerLockSchedule(10, 10, num_layers_per_freeze=3, target_layers=[3, 6, 9])
    s.validate_for(9)
    with pytest.raises(ValueError, match=r"event 3 \(step 30\) would freeze 9 blocks.*only 8"):
        s.validate_for(8)


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_steps_between_freezes"):
        LayerLockSchedule(10, 0, target_layers=[1])
    with pytest.raises(ValueError, match="target_layers"):
        LayerLockSchedule(10, 5)
    with pytest.raises(ValueError, match="empty"):
        LayerLockSchedule(10, 5, target_layers=[])
