"""Models trained the way data scientists train them: the scikit-learn API on pandas
DataFrames (named columns, missing values, a categorical column, string class labels), with
and without early stopping, and ``xgb.train``. Each case knows what its training-side API
answers, which is what the router must answer too."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.preprocessing import LabelEncoder

if TYPE_CHECKING:
    from pathlib import Path

ROWS = 300
PREDICT_ROWS = 12
CLASSES = ["churned", "stayed", "upgraded"]  # string labels, as a LabelEncoder learns them
PLANS = ["free", "pro", "team"]


def frame(
    *, seed: int = 0, categorical: bool = False, booleans: bool = False, n: int = ROWS
) -> pd.DataFrame:
    """Customers: named numeric columns with missing values, optionally a category, and
    optionally booleans: a numpy ``bool`` column and a nullable ``boolean`` one with NA
    (XGBoost records both as indicators, type ``i``)."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.normal(40, 12, n),
            "income": rng.lognormal(3, 0.6, n),
            "visits": rng.poisson(3, n).astype(float),
        }
    )
    df.loc[rng.random(n) < 0.15, "income"] = np.nan
    if categorical:
        df["plan"] = pd.Categorical(rng.choice(PLANS, n), categories=PLANS)
    if booleans:
        df["member"] = rng.random(n) < 0.4
        autopay = pd.array(rng.random(n) < 0.5, dtype="boolean")
        autopay[rng.random(n) < 0.2] = pd.NA
        df["autopay"] = autopay
    return df


def signal(df: pd.DataFrame, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + 100)
    score = (df["age"] - 40) / 12 + np.log(df["income"].fillna(20)) / 2 - df["visits"] / 3
    if "plan" in df:
        score = score + (df["plan"] == "pro").to_numpy() * 1.5
    if "member" in df:
        score = score + df["member"].to_numpy() * 1.2 - df["autopay"].fillna(False).to_numpy()
    return np.asarray(score + rng.normal(0, 0.8, len(df)))


@dataclass
class Case:
    """One trained model, the rows to predict and what the training side answers."""

    name: str
    model: Any  # a scikit-learn estimator or an xgb.Booster
    rows: pd.DataFrame
    fmt: str
    kind: str  # classifier, regressor, ranker, booster
    labels: list[str] | None = None  # class_labels in metadata.json
    label_encoder: LabelEncoder | None = None
    early_stopping: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def booster(self) -> xgb.Booster:
        return self.model if isinstance(self.model, xgb.Booster) else self.model.get_booster()

    def outputs(self) -> list[str]:
        if self.kind == "classifier":
            return ["value", "margin", "probabilities", "label"]
        return ["value", "margin"]

    def expected(self, output: str, rounds: str = "best") -> Any:
        """What the training-side API answers for ``output``."""
        rows = self.rows
        if self.kind == "booster" or rounds == "all":
            dmatrix = xgb.DMatrix(rows, enable_categorical=True)
            best = self.booster.best_iteration if self.early_stopping else -1
            end = 0 if rounds == "all" else best + 1
            margin = output == "margin"
            return self.booster.predict(dmatrix, iteration_range=(0, end), output_margin=margin)
        if output == "margin":
            return self.model.predict(rows, output_margin=True)
        if self.kind != "classifier":
            return self.model.predict(rows)
        if output == "probabilities":
            return self.model.predict_proba(rows)
        if output == "label":
            indices = self.model.predict(rows)
            if self.label_encoder is not None:
                return self.label_encoder.inverse_transform(indices).tolist()
            if self.labels is not None:
                return [self.labels[i] for i in indices]
            return indices.tolist()
        proba = self.model.predict_proba(rows)
        return proba[:, 1] if proba.shape[1] == 2 else proba

    def array_rows(self) -> list[list[Any]]:
        """Rows as arrays in feature order; a category as its code, missing as NaN, and a
        boolean as true or false (null where a nullable one is NA), as a mixed frame's
        ``df.values.tolist()`` reaches the router (the client sends its pd.NA as null)."""
        columns: list[list[Any]] = []
        for column in self.rows.columns:
            values = self.rows[column]
            if isinstance(values.dtype, pd.CategoricalDtype):
                codes = values.cat.codes.to_numpy().astype(float)
                codes[codes < 0] = np.nan
                columns.append(codes.tolist())
            elif pd.api.types.is_bool_dtype(values.dtype):
                columns.append([None if pd.isna(v) else bool(v) for v in values])
            else:
                columns.append(values.to_numpy(dtype=float).tolist())
        return [list(row) for row in zip(*columns, strict=True)]

    def object_rows(self) -> list[dict[str, Any]]:
        """Rows as objects, as a DataFrame's records: categories by value; missing values
        alternate between null and NaN (what json.dumps writes for a float NaN)."""
        records = []
        for number, record in enumerate(self.rows.to_dict(orient="records")):
            row: dict[str, Any] = {}
            for key, value in record.items():
                if isinstance(value, float) and math.isnan(value):
                    row[key] = None if number % 2 else math.nan
                else:
                    row[key] = value
            records.append(row)
        return records

    def save(self, root: Path) -> Path:
        folder = root / self.name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"model.{self.fmt}"
        self.model.save_model(path)
        if self.metadata:
            (folder / "metadata.json").write_text(json.dumps(self.metadata))
        return path


def _split(df: pd.DataFrame, y: np.ndarray) -> tuple[Any, ...]:
    cut = int(len(df) * 0.7)
    return df[:cut], y[:cut], df[cut:], y[cut:]


def _rows_to_predict(df: pd.DataFrame) -> pd.DataFrame:
    rows = df[-PREDICT_ROWS:].copy().reset_index(drop=True)
    # One row of nothing but missing values, where a column can hold one (numpy's bool
    # cannot; a nullable boolean holds NA).
    for column in rows.columns:
        if rows[column].dtype != bool:
            rows.loc[0, column] = np.nan if rows[column].dtype.kind == "f" else pd.NA
    return rows


def _fit(estimator: Any, df: pd.DataFrame, y: np.ndarray, early: bool, **fit: Any) -> Any:
    train_x, train_y, eval_x, eval_y = _split(df, y)
    if early:
        estimator.set_params(early_stopping_rounds=5)
        estimator.fit(train_x, train_y, eval_set=[(eval_x, eval_y)], verbose=False, **fit)
        booster = estimator.get_booster()
        assert estimator.best_iteration + 1 < booster.num_boosted_rounds(), "stopped early"
    else:
        estimator.fit(train_x, train_y, **fit)
    return estimator


PARAMS: dict[str, Any] = {"n_estimators": 60, "max_depth": 3, "learning_rate": 0.3, "n_jobs": 1}


def classifier(name: str, fmt: str, *, early: bool, labels: bool = False) -> Case:
    df = frame(seed=1)
    y = (signal(df) > 0.3).astype(int)
    model = _fit(xgb.XGBClassifier(**PARAMS), df, y, early)
    metadata = {"class_labels": ["stays", "churns"]} if labels else {}
    return Case(
        name, model, _rows_to_predict(df), fmt, "classifier",
        labels=metadata.get("class_labels"), early_stopping=early, metadata=metadata,
    )  # fmt: skip


def multiclass(name: str, fmt: str, *, early: bool, labels: bool) -> Case:
    df = frame(seed=2)
    text = np.array(CLASSES)[np.digitize(signal(df, 2), [-0.6, 0.6])]
    encoder = LabelEncoder().fit(text)  # XGBClassifier needs 0..n-1: the usual recipe
    model = _fit(xgb.XGBClassifier(**PARAMS), df, encoder.transform(text), early)
    metadata = {"class_labels": encoder.classes_.tolist()} if labels else {}
    return Case(
        name, model, _rows_to_predict(df), fmt, "classifier",
        labels=metadata.get("class_labels"), label_encoder=encoder if labels else None,
        early_stopping=early, metadata=metadata,
    )  # fmt: skip


def regressor(name: str, fmt: str, *, early: bool) -> Case:
    df = frame(seed=3)
    model = _fit(xgb.XGBRegressor(**PARAMS), df, signal(df, 3), early)
    return Case(name, model, _rows_to_predict(df), fmt, "regressor", early_stopping=early)


def ranker(name: str, fmt: str, *, early: bool) -> Case:
    df = frame(seed=4)
    relevance = np.digitize(signal(df, 4), [-0.5, 0.3, 1.0])
    qid = np.arange(len(df)) // 10
    train_x, train_y, eval_x, eval_y = _split(df, relevance)
    cut = len(train_x)
    model = xgb.XGBRanker(**PARAMS)
    if early:
        model.set_params(early_stopping_rounds=5)
        model.fit(
            train_x, train_y, qid=qid[:cut], eval_set=[(eval_x, eval_y)],
            eval_qid=[qid[cut:]], verbose=False,
        )  # fmt: skip
        assert model.best_iteration + 1 < model.get_booster().num_boosted_rounds()
    else:
        model.fit(train_x, train_y, qid=qid[:cut])
    return Case(name, model, _rows_to_predict(df), fmt, "ranker", early_stopping=early)


def random_forest(name: str, fmt: str) -> Case:
    """XGBRFClassifier: one round of many parallel trees (its sklearn API has no early
    stopping: XGBoost raises NotImplementedError)."""
    df = frame(seed=5)
    text = np.array(CLASSES)[np.digitize(signal(df, 5), [-0.6, 0.6])]
    encoder = LabelEncoder().fit(text)
    model = xgb.XGBRFClassifier(n_estimators=8, max_depth=3, n_jobs=1, random_state=0)
    model.fit(df, encoder.transform(text))
    metadata = {"class_labels": encoder.classes_.tolist()}
    return Case(
        name, model, _rows_to_predict(df), fmt, "classifier",
        labels=metadata["class_labels"], label_encoder=encoder, metadata=metadata,
    )  # fmt: skip


def boosted_forest(name: str, fmt: str) -> Case:
    """``xgb.train`` of a boosted random forest with early stopping: four trees a round and
    three classes, so twelve trees per boosting round."""
    df = frame(seed=6)
    y = np.digitize(signal(df, 6), [-0.6, 0.6])
    train_x, train_y, eval_x, eval_y = _split(df, y)
    params = {
        "objective": "multi:softprob", "num_class": 3, "num_parallel_tree": 4,
        "subsample": 0.8, "colsample_bynode": 0.8, "max_depth": 3, "eta": 0.5,
        "nthread": 1, "seed": 0,
    }  # fmt: skip
    booster = xgb.train(
        params, xgb.DMatrix(train_x, train_y), num_boost_round=60,
        evals=[(xgb.DMatrix(eval_x, eval_y), "eval")], early_stopping_rounds=3,
        verbose_eval=False,
    )  # fmt: skip
    assert booster.best_iteration + 1 < booster.num_boosted_rounds()
    return Case(name, booster, _rows_to_predict(df), fmt, "booster", early_stopping=True)


def categorical(name: str, fmt: str, *, early: bool) -> Case:
    df = frame(seed=7, categorical=True)
    y = (signal(df, 7) > 0.5).astype(int)
    estimator = xgb.XGBClassifier(
        **PARAMS, enable_categorical=True, tree_method="hist", max_cat_to_onehot=1
    )
    model = _fit(estimator, df, y, early)
    rows = _rows_to_predict(df)
    rows.loc[3, "plan"] = np.nan  # a missing category
    return Case(name, model, rows, fmt, "classifier", early_stopping=early)


def booleans(name: str, fmt: str, *, early: bool) -> Case:
    """Boolean columns, as a DataFrame holds flags: numpy ``bool`` and nullable ``boolean``
    (whose NA is a missing value)."""
    df = frame(seed=9, booleans=True)
    y = (signal(df, 9) > 0.4).astype(int)
    model = _fit(xgb.XGBClassifier(**PARAMS), df, y, early)
    assert model.get_booster().feature_types[-2:] == ["i", "i"]
    return Case(name, model, _rows_to_predict(df), fmt, "classifier", early_stopping=early)


def multilabel(name: str, fmt: str, *, early: bool) -> Case:
    """XGBClassifier on a 2-D indicator target: several binary labels per row, as
    scikit-learn's multi-label recipe has it (predict thresholds each at 0.5)."""
    df = frame(seed=10)
    score = signal(df, 10)
    y = np.column_stack([score > 0.3, df["visits"] > 3, df["age"] < 35]).astype(int)
    model = _fit(xgb.XGBClassifier(**PARAMS, tree_method="hist"), df, y, early)
    assert model.get_booster().num_boosted_rounds() and y.shape[1] == 3
    return Case(name, model, _rows_to_predict(df), fmt, "classifier", early_stopping=early)


def booster_with_early_stopping(name: str, fmt: str) -> Case:
    """``xgb.train`` with early stopping; the reference is Booster.predict with
    iteration_range=(0, best_iteration + 1), as XGBoost's docs say."""
    df = frame(seed=8)
    y = (signal(df, 8) > 0).astype(int)
    train_x, train_y, eval_x, eval_y = _split(df, y)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3, "nthread": 1},
        xgb.DMatrix(train_x, train_y), num_boost_round=100,
        evals=[(xgb.DMatrix(eval_x, eval_y), "eval")], early_stopping_rounds=5,
        verbose_eval=False,
    )  # fmt: skip
    assert booster.best_iteration + 1 < booster.num_boosted_rounds()
    return Case(name, booster, _rows_to_predict(df), fmt, "booster", early_stopping=True)


def all_cases() -> list[Case]:
    return [
        classifier("binary", "json", early=False),
        classifier("binary-es", "ubj", early=True, labels=True),
        multiclass("multiclass", "ubj", early=False, labels=False),
        multiclass("multiclass-es", "json", early=True, labels=True),
        regressor("regressor", "ubj", early=False),
        regressor("regressor-es", "json", early=True),
        ranker("ranker", "json", early=False),
        ranker("ranker-es", "ubj", early=True),
        random_forest("forest", "json"),
        boosted_forest("forest-es", "ubj"),
        categorical("categorical", "ubj", early=False),
        categorical("categorical-es", "json", early=True),
        booster_with_early_stopping("booster-es", "json"),
        booleans("booleans-es", "ubj", early=True),
        multilabel("multilabel", "json", early=False),
    ]
