"""heartgrpo.doctor: ``heartgrpo doctor``: static checks of the installed stack
(:mod:`~heartgrpo.doctor.report`), the GPU memory estimate (:mod:`~heartgrpo.doctor.memory`) and the
``--run`` smoke checks (:mod:`~heartgrpo.doctor.run`)."""
