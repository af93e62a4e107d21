"""heartgrpo.signal: reward-signal analysis (advantages, the outcome model, verdict logs).

:mod:`heartgrpo.signal.study` holds the generative model of judge outcomes and the measures;
:mod:`heartgrpo.signal.data` reads rubrics and recorded verdict logs for it.
"""
