import warnings

# numpy's test module marks classes thread_unsafe (a pytest-run-parallel
# marker); register it so pytest does not warn.


def pytest_configure(config):
    config.addinivalue_line("markers", "thread_unsafe: numpy's marker, unused here")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="numpy")
