"""The instructions clock: measured calls counted in instructions by valgrind's callgrind.

The parent pytest process (:mod:`.batch`) re-runs the instruction-clock tests in one subprocess
under ``valgrind --tool=callgrind --instr-atstart=no``; inside it (:mod:`.worker`), each measured
call is bracketed by callgrind client requests (:mod:`.client_requests`, :mod:`.counting`), and
the counts travel back to the parent, which checks budgets, compares and saves as for any clock.
"""
