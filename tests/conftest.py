from hypothesis import settings

# Examples are small and cheap; keep the suite quick and deterministic on CI.
settings.register_profile("default", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("default")
