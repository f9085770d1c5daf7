"""Every rule the decision module can emit, with the seeds it rests on.

Ids follow ../shared/design/clinical-rules.md where a rule is named there; ORDER-*, DQ-* and the
split TRIAL-SPECIFIC-* ids are this service's own (order-hook eligibility, data quality, trial
lists by setting). The catalogue must hold exactly one entry per id here, citing exactly these
seeds (checked at start-up).
"""

from __future__ import annotations

from service.decision.model import Family, Rule

RULES: dict[str, Rule] = {}


def _r(rule_id: str, family: Family, *seeds: str) -> Rule:
    if rule_id in RULES:
        raise ValueError(f"duplicate rule id {rule_id}")
    rule = Rule(rule_id, family, tuple(seeds))
    RULES[rule_id] = rule
    return rule


# --- 1A diagnostic workup ------------------------------------------------------------------
DX_MARKERS_DX_RELAPSE = _r("DX-MARKERS-DX-RELAPSE", "workup", "000")
DX_ALL_MARKERS = _r("DX-ALL-MARKERS", "workup", "000")
DX_AML_MARKERS = _r("DX-AML-MARKERS", "workup", "000")
DX_MARKER_AGENT_MAP = _r("DX-MARKER-AGENT-MAP", "workup", "000")
DX_GENETICS_ALL = _r("DX-GENETICS-ALL", "workup", "000")
DX_GENETICS_AML = _r("DX-GENETICS-AML", "workup", "000")
DX_BASELINE = _r("DX-BASELINE", "workup", "000")
DX_MRD_BASELINE = _r("DX-MRD-BASELINE", "workup", "000", "003")
DX_ANTIGEN_HETEROGENEITY = _r("DX-ANTIGEN-HETEROGENEITY", "workup", "000")
DX_CD20_DEF = _r("DX-CD20-DEF", "workup", "003")
DX_PHLIKE_PROXY = _r("DX-PHLIKE-PROXY", "workup", "003")
DX_CD33_FOR_GO = _r("DX-CD33-FOR-GO", "workup", "000")
DX_PRE_CART_CD3 = _r("DX-PRE-CART-CD3", "workup", "002")
DX_RETEST_TARGET = _r("DX-RETEST-TARGET-AT-RELAPSE", "workup", "000")

# --- data quality (service) -------------------------------------------------------------------
DQ_FINDINGS = _r("DQ-FINDINGS", "data-quality", "000")
DQ_LINEAGE_UNKNOWN = _r("DQ-LINEAGE-UNKNOWN", "data-quality", "000")
DQ_AGE_UNKNOWN = _r("DQ-AGE-UNKNOWN", "data-quality", "000", "003")
DQ_STATUS_UNKNOWN = _r("DQ-STATUS-UNKNOWN", "data-quality", "000")

# --- 1B B-ALL options -------------------------------------------------------------------------
ALL_RR_FIRST_RELAPSE = _r("ALL-RR-FIRST-RELAPSE", "b-all", "000")
ALL_RR_BRIDGE_TO_HCT = _r("ALL-RR-BRIDGE-TO-HCT", "b-all", "000", "001")
ALL_RR_HIGH_BURDEN_INO_FIRST = _r("ALL-RR-HIGH-BURDEN-INO-FIRST", "b-all", "000", "001")
ALL_RR_LOW_BURDEN_BLIN = _r("ALL-RR-LOW-BURDEN-BLIN", "b-all", "001")
ALL_BLIN_RR = _r("ALL-BLIN-RR", "b-all", "000", "001")
ALL_INO_RR = _r("ALL-INO-RR", "b-all", "000", "001")
ALL_INO_PEDS = _r("ALL-INO-PEDS", "b-all", "002")
ALL_SEQ_INO_BLIN = _r("ALL-SEQ-INO-BLIN", "b-all", "001")
ALL_HCT_INELIGIBLE = _r("ALL-HCT-INELIGIBLE", "b-all", "001")
ALL_RELAPSE_POST_HCT = _r("ALL-RELAPSE-POST-HCT", "b-all", "000", "001")
ALL_INO_MINIHCVD_SALVAGE = _r("ALL-INO-MINIHCVD-SALVAGE", "b-all", "004")
ALL_BLIN_MRD_LABEL = _r("ALL-BLIN-MRD-LABEL", "b-all", "000", "003")
ALL_BLIN_MRD_SITC = _r("ALL-BLIN-MRD-SITC", "b-all", "000")
ALL_BLIN_MRD_LOW = _r("ALL-BLIN-MRD-LOW", "b-all", "000", "001")
ALL_BLIN_MRD_EARLY = _r("ALL-BLIN-MRD-EARLY", "b-all", "002")
ALL_BLIN_MRD_HCT_ROLE = _r("ALL-BLIN-MRD-HCT-ROLE", "b-all", "001")
ALL_FRONT_BLIN_CONSOLIDATION = _r("ALL-FRONT-BLIN-CONSOLIDATION", "b-all", "003")
ALL_FRONT_PEDS_SR_BLIN = _r("ALL-FRONT-PEDS-SR-BLIN", "b-all", "003")
ALL_FRONT_OLDER_TRIAL = _r("ALL-FRONT-OLDER-TRIAL", "trial", "003")
ALL_FRONT_INO = _r("ALL-FRONT-INO", "trial", "003")
ALL_RITUX_CD20 = _r("ALL-RITUX-CD20", "b-all", "000", "004")
ALL_RITUX_OLDER = _r("ALL-RITUX-OLDER", "b-all", "004")
ALL_OFATUMUMAB_CD20LOW = _r("ALL-OFATUMUMAB-CD20LOW", "b-all", "004")
ALL_PH_RR_BLIN = _r("ALL-PH-RR-BLIN", "b-all", "001")
ALL_PH_RR_INO = _r("ALL-PH-RR-INO", "b-all", "001")
ALL_PH_FRONT = _r("ALL-PH-FRONT", "trial", "003")
ALL_PH_T315I = _r("ALL-PH-T315I", "b-all", "001", "003")
ALL_PH_LIKE = _r("ALL-PH-LIKE", "b-all", "003")
ALL_CNS_EMD = _r("ALL-CNS-EMD", "b-all", "000", "001", "003")

# --- 1C CAR T ---------------------------------------------------------------------------------
CART_TISA = _r("CART-TISA", "car-t", "000")
CART_BREXU = _r("CART-BREXU", "car-t", "001", "003")
CART_OBE = _r("CART-OBE", "car-t", "003")
CART_AGE_GATE = _r("CART-AGE-GATE", "car-t", "000", "003")
CART_PRIOR_HCT = _r("CART-PRIOR-HCT", "car-t", "000", "001")
CART_AFTER_OTHER_IT = _r("CART-AFTER-OTHER-IT", "car-t", "001")
CART_VS_HCT = _r("CART-VS-HCT", "car-t", "001")
CART_CONSOLIDATIVE_HCT = _r("CART-CONSOLIDATIVE-HCT", "car-t", "000", "001")
POSTCART_RELAPSE = _r("POSTCART-RELAPSE", "car-t", "000")

# --- 1D cautions ------------------------------------------------------------------------------
CAU_INO_VOD_HCT = _r("CAU-INO-VOD-HCT", "caution", "000")
CAU_HEPATIC = _r("CAU-HEPATIC", "caution", "001")
CAU_NEURO = _r("CAU-NEURO", "caution", "001", "002")
CAU_AGE_INO = _r("CAU-AGE-INO", "caution", "001", "003")
CAU_BLIN_EFFICACY = _r("CAU-BLIN-EFFICACY", "caution", "003")
CAU_CD19_NEG = _r("CAU-CD19-NEG", "caution", "000")
CAU_CD22_LOSS = _r("CAU-CD22-LOSS", "caution", "002")
CAU_LINEAGE_SWITCH = _r("CAU-LINEAGE-SWITCH", "caution", "001", "002")
CAU_SEQUENCING_CD19 = _r("CAU-SEQUENCING-CD19", "caution", "001")
CAU_CHECKPOINT_HCT = _r("CAU-CHECKPOINT-HCT", "caution", "000")
CAU_IMMUNE_WITH_HCT = _r("CAU-IMMUNE-WITH-HCT", "caution", "000")
CAU_EXPERIMENTAL_SITE = _r("CAU-EXPERIMENTAL-SITE", "caution", "000")
CAU_BLIN_DRIVING = _r("CAU-BLIN-DRIVING", "caution", "000")
CAU_INO_FRONTLINE_TOX = _r("CAU-INO-FRONTLINE-TOX", "caution", "003")
CAU_PH_CHEMOFREE_CNS = _r("CAU-PH-CHEMOFREE-CNS", "caution", "003")
CAU_SECOND_HCT_POST_CART = _r("CAU-SECOND-HCT-POST-CART", "caution", "001")
CAU_DARA_BLOODBANK = _r("CAU-DARA-BLOODBANK", "caution", "004")
CAU_GO_SOS = _r("CAU-GO-SOS", "caution", "000", "002")
CAU_CART_LOGISTICS = _r("CAU-CART-LOGISTICS", "caution", "001")

# --- 1E monitoring ----------------------------------------------------------------------------
MON_IMMUNO_GENERAL = _r("MON-IMMUNO-GENERAL", "monitoring", "000")
MON_BLIN_ADMISSION = _r("MON-BLIN-ADMISSION", "monitoring", "000")
MON_BLIN_CRS_PREVENTION = _r("MON-BLIN-CRS-PREVENTION", "monitoring", "002")
MON_BLIN_CRS_NEURO_WINDOWS = _r("MON-BLIN-CRS-NEURO-WINDOWS", "monitoring", "002")
MON_BLIN_TOX_ACTIONS = _r("MON-BLIN-TOX-ACTIONS", "monitoring", "001", "002")
MON_IGG = _r("MON-IGG", "monitoring", "002")
MON_CART_PROXIMITY = _r("MON-CART-PROXIMITY", "monitoring", "000")
MON_CART_CRS = _r("MON-CART-CRS", "monitoring", "002", "004")
MON_CART_ICANS = _r("MON-CART-ICANS", "monitoring", "000", "002")
MON_CART_INFECTION = _r("MON-CART-INFECTION", "monitoring", "002")
MON_CART_PERSISTENCE = _r("MON-CART-PERSISTENCE", "monitoring", "001")
MON_CART_HIV_NAT = _r("MON-CART-HIV-NAT", "monitoring", "002")
MON_CART_LABS = _r("MON-CART-LABS", "monitoring", "004")
MON_INO_VOD = _r("MON-INO-VOD", "monitoring", "000")
MON_GO_HEPATIC = _r("MON-GO-HEPATIC", "monitoring", "000")
MON_EDUCATION = _r("MON-EDUCATION", "monitoring", "000")

# --- 1F trials --------------------------------------------------------------------------------
TRIAL_EVERY_JUNCTURE = _r("TRIAL-EVERY-JUNCTURE", "trial", "000")
TRIAL_MRD_POS_ALL = _r("TRIAL-MRD-POS-ALL", "trial", "000", "003")
TRIAL_POST_CART = _r("TRIAL-POST-CART", "trial", "000")
TRIAL_APPROVED_FIRST = _r("TRIAL-APPROVED-FIRST", "trial", "000")
TRIAL_SPECIFIC_RR = _r("TRIAL-SPECIFIC-RR", "trial", "001")
TRIAL_SPECIFIC_POST_HCT = _r("TRIAL-SPECIFIC-POST-HCT", "trial", "001")
TRIAL_SPECIFIC_PEDS_FRONTLINE = _r("TRIAL-SPECIFIC-PEDS-FRONTLINE", "trial", "002", "003")

# --- 1G AML -----------------------------------------------------------------------------------
AML_GO_INDUCTION = _r("AML-GO-INDUCTION", "aml", "000")
AML_GO_UNFIT = _r("AML-GO-UNFIT", "aml", "000")
AML_GO_RELAPSE = _r("AML-GO-RELAPSE", "aml", "000")
AML_GO_CD33NEG = _r("AML-GO-CD33NEG", "aml", "000")
AML_MRD = _r("AML-MRD", "aml", "000")
AML_POSTHCT_RELAPSE = _r("AML-POSTHCT-RELAPSE", "aml", "000")
AML_CHECKPOINT = _r("AML-CHECKPOINT", "aml", "000")
AML_GO_POST_HCT_PEDS = _r("AML-GO-POST-HCT-PEDS", "aml", "000")
AML_CD123 = _r("AML-CD123", "aml", "000")
AML_CD33_NOVEL = _r("AML-CD33-NOVEL", "aml", "000")
AML_OTHER_TARGETS = _r("AML-OTHER-TARGETS", "aml", "000")

# --- 1H T-ALL ---------------------------------------------------------------------------------
TALL_NO_B_AGENTS = _r("TALL-NO-B-AGENTS", "t-all", "003")
TALL_DARA = _r("TALL-DARA", "t-all", "003", "004")
TALL_CD7_CART = _r("TALL-CD7-CART", "t-all", "000", "003")
TALL_OTHER_CELLULAR = _r("TALL-OTHER-CELLULAR", "t-all", "003")
TALL_ALEMTUZUMAB = _r("TALL-ALEMTUZUMAB", "t-all", "003", "004")
TALL_VENETOCLAX_ETP = _r("TALL-VENETOCLAX-ETP", "t-all", "004")

# --- order-hook eligibility (service) ---------------------------------------------------------
ORDER_CD19_LINEAGE = _r("ORDER-CD19-AGENT-LINEAGE", "order", "000", "002")
ORDER_CD19_NEG = _r("ORDER-CD19-NEG", "order", "000")
ORDER_CD22_CONTRA = _r("ORDER-CD22-CONTRA", "order", "000")
ORDER_TISA_AGE = _r("ORDER-TISA-AGE", "order", "000", "003")
ORDER_TISA_STATUS = _r("ORDER-TISA-STATUS", "order", "000")
ORDER_CART_ADULT_AGE = _r("ORDER-CART-ADULT-AGE", "order", "001", "003")
ORDER_CART_PRODUCT_UNKNOWN = _r("ORDER-CART-PRODUCT-UNKNOWN", "order", "003")
ORDER_GO_CONTRA = _r("ORDER-GO-CONTRA", "order", "000")
ORDER_RITUX_CONTRA = _r("ORDER-RITUX-CONTRA", "order", "000")
ORDER_RITUX_CD20_LOW = _r("ORDER-RITUX-CD20-LOW", "order", "004")
ORDER_DARA_CD38 = _r("ORDER-DARA-CD38", "order", "004")
