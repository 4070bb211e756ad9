"""Every check, by the name of the function it grades (``SPECS``).
"""

from .bptt import _NumericalGradient, _RnnBackward, _RnnCellBackward
from .brnn_deep import _BrnnForward, _DeepForward
from .gru import _GruCellForward, _GruForward
from .language_model import _Clip, _Optimize, _Sample
from .lstm import _LstmBackward, _LstmCellBackward, _LstmCellForward, _LstmForward
from .rnn import _OneHot, _RnnCellForward, _RnnForward

SPECS = {spec.name: spec for spec in (
    _OneHot(), _RnnCellForward(), _RnnForward(),
    _RnnCellBackward(), _RnnBackward(), _NumericalGradient(),
    _Clip(), _Sample(), _Optimize(),
    _GruCellForward(), _GruForward(),
    _LstmCellForward(), _LstmForward(), _LstmCellBackward(), _LstmBackward(),
    _BrnnForward(), _DeepForward(),
)}
