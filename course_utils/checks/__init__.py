"""Exercise checks, one module per notebook; import any check from here.

    from course_utils.checks import check_softmax
    check_softmax(my_softmax)   # prints one line: passed, or what to fix
"""

from .core import Case, CheckFailed, run_check, strict_checks
from .nb01 import *  # noqa: F403
from .nb02 import *  # noqa: F403
from .nb03 import *  # noqa: F403
from .nb04 import *  # noqa: F403
from .nb05 import *  # noqa: F403
from .nb06 import *  # noqa: F403

__all__ = ["Case", "CheckFailed", "run_check", "strict_checks"]
