"""Validation experiments of the SG-NTK (docs/maths.md section 7), shared by ``kernelalg validate``
(quick settings) and the scripts in ``derivations/`` (full settings, figures, metrics JSON)."""
