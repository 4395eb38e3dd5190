"""Checks of XGBoost model files, run before any byte reaches XGBoost, by concern:

* :mod:`.ubj`: the structure of a UBJSON file, walked in the dialect XGBoost reads;
* :mod:`.ubj_values`: the values of a UBJSON model, read from its bytes;
* :mod:`.json`: a JSON file's structure, and its values read from the parsed document;
* :mod:`.rules`: what the values must be, whatever the format, and :class:`ModelFormatError`.

:mod:`router.xgb.formats` puts them together per format.
"""
