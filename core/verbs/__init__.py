"""The verbs of ``/release``, one module per domain; ``core.grammar`` assembles them."""
