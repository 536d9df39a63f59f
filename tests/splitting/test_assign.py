import numpy as np
import pandas as pd

from unimed_kedro.reporting.summary import split_balance
from unimed_kedro.schema.tables import Batches, Table, frame_of
from unimed_kedro.splitting.assign import assign_free, assign_splits, connected_groups
from unimed_kedro.splitting.report import check_no_leakage
from unimed_kedro.stages.split.nodes import planning_frame, split_samples

PARAMS = {
    "seed": 42,
    "ratios": {"train": 0.8, "val": 0.1, "test": 0.1},
    "use_official_split": True,
    "keep_official_val": True,
}


def _frame(n_patients=60, per_patient=3, source="nih", official=None, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        for k in range(per_patient):
            rows.append(
                {
                    "sample_id": f"{source}-{p}_{k}",
                    "source": source,
                    "patient_id": f"{source}:{p}",
                    "sha256": f"{source}{p}{k}",
                    "official_split": official(p) if official else None,
                    "label_mass": float(rng.random() < 0.2),
                    "label_edema": float(rng.random() < 0.5),
                }
            )
    return pd.DataFrame(rows)


def test_connected_groups_join_patients_and_duplicates():
    groups = connected_groups([pd.Series(["a", "a", "b", "c"]), pd.Series(["x", "y", "y", "z"])])
    assert groups[0] == groups[1] == groups[2] != groups[3]


def test_patient_level_ratios_and_determinism():
    frame = _frame()
    labels = ["label_mass", "label_edema"]
    first = assign_splits(frame, labels, PARAMS)
    assert (first == assign_splits(frame, labels, PARAMS)).all()
    frame["split"] = first
    check_no_leakage(frame)
    shares = frame["split"].value_counts(normalize=True)
    assert abs(shares["train"] - 0.8) < 0.05 and abs(shares["test"] - 0.1) < 0.05
    other = assign_splits(frame, labels, {**PARAMS, "seed": 7})
    assert (other != first).any()


def test_labels_are_stratified_across_splits():
    frame = _frame(n_patients=400, per_patient=2, seed=3)
    frame["split"] = assign_splits(frame, ["label_mass", "label_edema"], PARAMS)
    overall = frame[["label_mass", "label_edema"]].mean()
    for _, part in frame.groupby("split"):
        assert (part[["label_mass", "label_edema"]].mean() - overall).abs().max() < 0.03


def test_duplicate_image_pulls_groups_together():
    frame = _frame(n_patients=30)
    frame.loc[5, "sha256"] = frame.loc[80, "sha256"]  # same bytes for two patients
    frame["split"] = assign_splits(frame, ["label_mass"], PARAMS)
    check_no_leakage(frame)
    assert frame.loc[5, "split"] == frame.loc[80, "split"]


def test_official_splits_are_honoured():
    frame = _frame(official=lambda p: "test" if p % 5 == 0 else "train")
    split = assign_splits(frame, ["label_mass"], PARAMS)
    official_test = frame["official_split"].eq("test").to_numpy()
    assert (split[official_test] == "test").all()
    assert not (split[~official_test] == "test").any()
    assert (split[~official_test] == "val").any()


def test_tiny_sources_still_split():
    frame = _frame(n_patients=4, source="openi")
    split = assign_splits(frame, ["label_mass"], PARAMS)
    assert pd.Series(split).groupby(frame["patient_id"]).nunique().max() == 1


def test_leakage_check_raises():
    frame = pd.DataFrame(
        {"patient_id": ["a", "a"], "sha256": ["1", "2"], "split": ["train", "test"]}
    )
    try:
        check_no_leakage(frame)
    except AssertionError as err:
        assert "patient_id" in str(err)
    else:
        raise AssertionError("leak not detected")


def test_split_report_counts():
    frame = _frame(n_patients=20)
    frame["split"] = assign_splits(frame, ["label_mass"], PARAMS)
    report = split_balance(frame, ["label_mass"])
    total = report[report["source"].eq("all")]
    assert total["samples"].sum() == len(frame)
    assert set(report.columns) >= {"source", "split", "samples", "patients", "label_mass"}
    assert set(report.columns) >= {"images_per_patient", "share"}


def test_connected_groups_number_by_union_find_root():
    # Patient a (rows 0, 7) joins patient b (rows 2, 3) through row 7's copy of row 3's
    # bytes, so the joined group's root is row 2 and it sorts after row 1's group: the
    # numbering `assign_free` shuffles by, hence pinned.
    patients = pd.Series(["a", "d", "b", "b", "e", "f", "g", "a"])
    hashes = pd.Series(["s0", "s1", "s2", "x", "s4", None, np.nan, "x"])
    groups = connected_groups([patients, hashes])
    assert groups.tolist() == [1, 0, 1, 1, 2, 3, 4, 1]


def _reference_assign_free(groups, positives, ratios, splits, seed):
    """The plain numpy loop `assign_free` must match decision for decision."""
    weights = np.array([ratios[s] for s in splits], dtype=float)
    weights /= weights.sum()
    ids, row_group = np.unique(groups, return_inverse=True)
    sizes = np.bincount(row_group, minlength=len(ids)).astype(float)
    labels = np.zeros((len(ids), positives.shape[1]))
    np.add.at(labels, row_group, positives)
    totals = np.maximum(labels.sum(axis=0), 1.0)
    order = np.random.default_rng(seed).permutation(len(ids))
    want_size, want_labels = weights * sizes.sum(), weights[:, None] * labels.sum(axis=0)
    have_size, have_labels = np.zeros(len(splits)), np.zeros((len(splits), labels.shape[1]))
    chosen = np.empty(len(ids), dtype=int)
    for g in order:
        label_need = ((want_labels - have_labels) / totals) @ labels[g]
        score = (want_size - have_size) / sizes.sum() + label_need / max(labels[g].sum(), 1.0)
        k = int(np.argmax(score))
        chosen[g] = k
        have_size[k] += sizes[g]
        have_labels[k] += labels[g]
    return np.asarray(splits, dtype=object)[chosen[row_group]]


def test_assign_free_matches_reference_loop():
    rng = np.random.default_rng(5)
    for trial in range(20):
        n, n_labels = int(rng.integers(1, 800)), int(rng.integers(0, 16))
        groups = rng.integers(0, int(rng.integers(1, n + 1)), n)
        positives = (rng.random((n, n_labels)) < rng.random() * 0.4).astype(float)
        splits = ("train", "val", "test") if trial % 3 else ("train", "val")
        ratios = {"train": 0.8, "val": 0.1, "test": 0.1}
        got = assign_free(groups, positives, ratios, splits, trial)
        assert (got == _reference_assign_free(groups, positives, ratios, splits, trial)).all()


def test_ids_read_as_numbers_split_as_their_texts_do(tmp_path):
    """The split node reads patient ids and image digests as numbers (`planning_frame`):
    same groups, same splits, and a leak still names the ids."""
    frame = pd.concat([_frame(40, seed=1), _frame(25, source="openi", seed=2)], ignore_index=True)
    frame.loc[frame.index[7], "patient_id"] = None  # a sample without a patient
    frame = frame.sample(frac=1, random_state=3).reset_index(drop=True)  # any stored order
    frame.to_parquet(tmp_path / "normalized.parquet")
    labels = ["label_mass", "label_edema"]
    coded, order, texts = planning_frame(Table(tmp_path / "normalized.parquet"), list(frame))
    by_id = frame.sort_values("sample_id").reset_index(drop=True)
    assert (frame["sample_id"].to_numpy()[order] == by_id["sample_id"].to_numpy()).all()
    assert coded["patient_id"].dtype == "float64" and coded["patient_id"].isna().sum() == 1
    assert (assign_splits(coded, labels, PARAMS) == assign_splits(by_id, labels, PARAMS)).all()
    coded["split"] = "train"
    coded.loc[0, "split"] = "test"  # the patient's other films stay in train
    try:
        check_no_leakage(coded, texts)
    except AssertionError as err:
        assert by_id["patient_id"][0] in str(err)
    else:
        raise AssertionError("leak not detected")


def test_the_split_node_reads_samples_given_a_batch_at_a_time_as_a_whole_frame():
    """Samples handed over as `Batches` (a generator, read once) are read three times by
    the node (columns, plan, stream): every sample comes out, split as from a frame."""
    frame = _frame(30, seed=4).sample(frac=1, random_state=5).reset_index(drop=True)
    parts = [frame.iloc[:40], frame.iloc[40:].reset_index(drop=True)]
    whole = frame_of(split_samples(frame, PARAMS)[0])
    streamed = frame_of(split_samples(Batches(iter(parts)), PARAMS)[0])
    assert len(whole) == len(frame)
    pd.testing.assert_frame_equal(streamed, whole)
