"""The kinds of answer a prediction request may ask for: one list, imported by the API and
the protocols that map them to their own names. No XGBoost import, so importing the API's
schemas stays cheap.

- ``value``: what ``Booster.inplace_predict`` returns: the positive class's probability for
  a binary model, each class's for multiclass, regression values, ranking scores.
- ``margin``: untransformed scores.
- ``contributions``: per-feature SHAP values, the bias last.
- ``probabilities``: what ``XGBClassifier.predict_proba`` returns: one column per class
  (both columns for a binary model).
- ``label``: what ``XGBClassifier.predict`` returns: the predicted class, as its label when
  the model's class labels are known, else its index.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Output = Literal["value", "margin", "contributions", "probabilities", "label"]
OUTPUTS: Final[tuple[Output, ...]] = get_args(Output)
CLASSIFIER_OUTPUTS: Final[tuple[Output, ...]] = ("probabilities", "label")
