"""Planner actions on constructed positions."""

import pandas as pd
import pytest

from optimization.actions import fair_share, plan_actions

ITEMS = pd.DataFrame({"sku": ["A"], "lot_size": [10], "moq": [30]})
NETWORK = pd.DataFrame(
    {
        "sku": "A",
        "source_location_id": ["SUP", "DC", "DC", "S1"],
        "destination_location_id": ["DC", "S1", "S2", "S2"],
        "transfer_cost": [0.5, 0.2, 0.2, 0.01],
    }
)


def targets(rop=(100, 20, 20), target=(200, 50, 50)):
    return pd.DataFrame(
        {
            "sku": "A",
            "location_id": ["DC", "S1", "S2"],
            "location_type": ["DC", "STORE", "STORE"],
            "reorder_point": rop,
            "target_stock_level": target,
            "unit_value": 40.0,
            "processing_time_days": [14, 2, 2],
        }
    )


def position(dc=150.0, s1=45.0, s2=30.0, dc_on_hand=150.0):
    return pd.DataFrame(
        {
            "sku": "A",
            "location_id": ["DC", "S1", "S2"],
            "inventory_position": [dc, s1, s2],
            "on_hand": [dc_on_hand, s1, s2],
            "allocated": 0.0,
        }
    )


def test_order_up_to_target_rounded_to_lot_and_moq():
    actions = plan_actions(targets(), position(s2=12), NETWORK, ITEMS)
    order = actions[(actions.action == "replenish") & (actions.to_location_id == "S2")].iloc[0]
    assert order.from_location_id == "DC"
    assert order.quantity == 40  # need 38 -> lot 10 -> 40 >= MOQ 30
    assert "reorder point" in order.reason
    assert not ((actions.to_location_id == "S1") & (actions.action == "replenish")).any()  # 45 > 20


def test_moq_lifts_a_small_order():
    actions = plan_actions(targets(rop=(100, 20, 48)), position(s2=45), NETWORK, ITEMS)
    assert actions.set_index("to_location_id").loc["S2", "quantity"] == 30


def test_constrained_dc_shares_fairly_by_need():
    pos = position(dc=150, s1=0, s2=10, dc_on_hand=30)
    no_lateral = NETWORK[NETWORK.source_location_id != "S1"]
    actions = plan_actions(targets(), pos, no_lateral, ITEMS)
    stores = actions[actions.to_location_id.isin(["S1", "S2"])].set_index("to_location_id")
    assert set(stores.action) == {"allocate"}
    assert stores.quantity.sum() == 30
    assert stores.loc["S1", "quantity"] == pytest.approx(30 * 50 / 90, abs=1)  # needs 50 and 40
    assert "fair share" in stores.loc["S1", "reason"]


def test_redeploy_excess_to_a_peer_when_cheaper_than_waiting():
    actions = plan_actions(targets(), position(s1=80, s2=5), NETWORK, ITEMS)
    move = actions[actions.action == "redeploy"].iloc[0]
    assert (move.from_location_id, move.to_location_id) == ("S1", "S2")
    assert move.quantity == 15  # S1 is 30 over target, S2 15 under its reorder point
    # after the move S2 sits at its reorder point (20): it still orders up to its target of 50
    order = actions[(actions.action == "replenish") & (actions.to_location_id == "S2")]
    assert order.quantity.tolist() == [30]


def test_fair_share_whole_units():
    assert fair_share(10, [5, 5, 10]).tolist() == [3, 2, 5]
    assert fair_share(100, [5, 5]).tolist() == [5, 5]
    assert fair_share(0, [5, 5]).tolist() == [0, 0]
