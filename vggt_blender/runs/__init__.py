"""A reconstruction run, with no operator or panel in it: the source's frames (``sources``), the plan and the
import (``runs``), the worker thread that runs the model without touching bpy (``worker``), and its UI timer
(``gui_run``)."""
