"""nbgrader's cell metadata check, with the metadata schema compiled once.

nbgrader's ``CheckCellMetadata`` validates each nbgrader cell with ``jsonschema.validate``, which
first checks the schema itself against the JSON Schema meta-schema and builds a new validator:
about 1 ms a cell, 13 ms a pass over an rnn notebook (29 ms a notebook at grading, which checks
in the sanitize and the autograde steps), where the compiled schema takes 1.2 ms a pass.
:class:`CheckCellMetadata` is nbgrader's step with the same checks, errors and messages; only
the schema is checked once per process, and each distinct cell's metadata once per process
(the cells of a class's notebooks are mostly the assignment's own).
"""

import json
import traceback

import jsonschema
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.nbgraderformat.common import (
    BaseMetadataValidator,
    SchemaTooNewError,
    SchemaTooOldError,
)
from nbgrader.preprocessors import CheckCellMetadata as _NbgraderCheckCellMetadata

#: {schema version: a validator of that schema, its schema checked once}
_VALIDATORS = {}
#: (schema version, nbgrader metadata as sorted JSON) found valid: a pure check, done once.
_VALID = set()


class _CompiledSchema(BaseMetadataValidator):
    """``BaseMetadataValidator.validate_cell`` with the validator built once per version."""

    def validate_cell(self, cell):
        if "nbgrader" not in cell.metadata:
            return
        schema = cell.metadata["nbgrader"].get("schema_version", 0)
        if schema < self.schema_version:
            raise SchemaTooOldError(
                f"Outdated schema version: {schema} (expected {self.schema_version})",
                schema, self.schema_version)
        if schema > self.schema_version:
            raise SchemaTooNewError(
                f"Schema version is too new: {schema} (expected {self.schema_version})",
                schema, self.schema_version)
        try:  # the same metadata is valid again (a class's cells are the assignment's)
            key = (self.schema_version, json.dumps(cell.metadata["nbgrader"], sort_keys=True))
        except (TypeError, ValueError):
            key = None
        if key is not None and key in _VALID:
            return
        validator = _VALIDATORS.get(self.schema_version)
        if validator is None:
            cls = jsonschema.validators.validator_for(self.schema)
            cls.check_schema(self.schema)
            validator = _VALIDATORS[self.schema_version] = cls(self.schema)
        # what jsonschema.validate(instance, schema) raises
        error = jsonschema.exceptions.best_match(validator.iter_errors(cell.metadata["nbgrader"]))
        if error is not None:
            raise error
        if key is not None and len(_VALID) < 4096:
            _VALID.add(key)


class CompiledMetadataValidator(MetadataValidator, _CompiledSchema):
    """nbgrader's metadata validator (schema version 3): its checks of the values run as they
    are; the schema check they start with (``super().validate_cell`` in nbgrader's code) comes
    to :class:`_CompiledSchema`, which is next in this class's method order."""


class CheckCellMetadata(_NbgraderCheckCellMetadata):
    """nbgrader's ``CheckCellMetadata`` (same checks, log and error), schema compiled once."""

    def preprocess(self, nb, resources):
        try:
            CompiledMetadataValidator().validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg) from None
        return nb, resources
