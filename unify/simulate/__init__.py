"""Source simulators: what AWS DMS (AzureWare WMS), Amazon AppFlow (Salesforce) and the TMS write to S3.

    from unify.simulate import simulate, continue_simulation, SimulationReport
    simulate("/tmp/landing", scale="tiny", days=7, start=date(2026, 11, 1), seed=42)
    continue_simulation("/tmp/landing", days=1)

Formats follow ../shared/SOURCE_FORMATS.md exactly, so the loaders read simulated and real files alike.
Modules: reference (fixed reference data), params (presets, faults), world/wms/tms/crm (the business),
dms/encode (file formats), state (what carries over between days), engine (the loop and API), cli.
"""

from unify.simulate.engine import SimulationReport, continue_simulation, simulate
from unify.simulate.params import FAULTS, FAULTS_DOC, PRESETS, SimulationError

__all__ = ["simulate", "continue_simulation", "SimulationReport", "SimulationError", "FAULTS", "FAULTS_DOC",
           "PRESETS"]
