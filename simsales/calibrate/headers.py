"""Recognising an export's columns by the names CRMs give them.

A one-row-per-deal export from a CRM without a reader of its own (Pipedrive, Zoho, Dynamics 365,
Freshsales, Odoo, a HubSpot or Salesforce report, 纷享销客, 销售易, a hand-kept sheet) names its
columns in a few common ways. When no preset fits the header and no mapping names columns, each
field takes the first of its known names below (in order of preference) that the header has,
compared as labels are (case, spaces and punctuation ignored, so ``Close Date``, ``close_date``
and ``CLOSE DATE`` are one name), also after dropping an object prefix such as Pipedrive's
``Deal - ``. A column feeds one field at most. Rules, stated:

- the shape is one row per deal when a close-date column is found, else one row per stage
  change when a stage-entered time is; a row per deal whose only close date is the expected
  one takes it as the close date of the deals that closed (a CRM sets it to the day a deal
  closes, as Bitrix24 and Salesforce do; an open deal's stays its expected close);
- with no creation or engagement column distinguished, the creation date is when work began
  (``engaged``); a ``Status`` column (open / won / lost, as Pipedrive and Dynamics keep it apart
  from the stage) decides the outcome where it says won or lost, the stage otherwise; a deal
  with a lost reason and a close date that neither calls won is lost (Odoo keeps a lost deal's
  stage and archives it with its reason), as is one an ``Active`` column says is not active;
- a column is taken for a date field only if most of its filled cells read as dates (a
  ``Closed`` column of true / false is not a close date), else the field's next name is tried;
- with no id column, the deal's name is its id (:func:`name_ids` tells apart deals that share a
  name by their line);
- a Salesforce report's converted amount (``Amount (converted)``, in the corporate currency) is
  the value when the report has one, so that no amount waits for a conversion rate;
- ``Opportunity Amount`` comes before ``Amount``: where a header has both (SugarCRM), several of
  Sugar's language packs call the amount converted to the system currency ``Amount``, while the
  row's currency column is the opportunity amount's;
- a ``Value Formatted`` column is taken before ``Value``: Close writes ``value`` in cents and its
  formatted twin as the user sees it (``$500``), with the currency sign;
- Bitrix24's stage history (``crm.stagehistory.list``: OWNER_ID, CREATED_TIME, STAGE_ID and
  STAGE_SEMANTIC_ID, a lead's STATUS_ID and STATUS_SEMANTIC_ID) is one row per stage change of
  the deal OWNER_ID names (its owner entity, not a salesperson), entered at CREATED_TIME, the
  semantics P / S / F, where exported, its outcome (open / won / lost, read in
  sources.generic).

What was taken is said in the data report; a header that lacks a required field is an error that
lists what was recognised and what is missing, in the user's terms.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from simsales.calibrate.mapping import columns_text, label_key

__all__ = [
    "ACTUAL_CLOSE",
    "NAMES",
    "HeaderUnit",
    "Recognised",
    "column_keys",
    "header_unit",
    "name_ids",
    "recognise",
]

# field -> its common column names, most specific first; a tuple is a pair of columns whose
# first non-blank value is taken (Pipedrive writes a win and a loss in two columns), found
# where the header has its first column. Chinese
# names are written in Simplified characters: a Traditional header matches its Simplified form
# (mapping.label_key), and Taiwan's own words (建立日期, 结案日期, 业务员) are listed; Japanese,
# Korean and Russian names are Salesforce's, Bitrix24's and amoCRM's standard labels
# fmt: off
NAMES: dict[str, tuple[str | tuple[str, ...], ...]] = {
    "id": ("id", "Record Id", "Deal ID", "Opportunity ID", "(Do Not Modify) Opportunity",
           "Opportunity Number", "Lead ID", "商机ID", "商机编号", "商机编码", "业务机会 ID",
           "业务机会编号", "机会编号",
           "单据编号",  # 金蝶's and 用友's bill number, every document's own
           "项目编号", "项目ID", "项目 ID",  # where the deal is a project (项目型销售)
           "记录 ID", "编号", "商談 ID", "거래 ID", "기회 ID", "레코드 ID",
           "Item ID",  # monday.com's
           # Salesforce's and HubSpot's French, Spanish, Portuguese and German UIs
           "ID de l'opportunité", "Id. de oportunidad", "ID de la oportunidad",
           "ID da oportunidade", "ID de fiche d'informations", "ID de registro",
           "ID do registro", "Datensatz-ID", "Verkaufschance-Nr.", "Verkaufschance-ID",
           "ID record"),  # HubSpot's Italian UI
    "status": ("Status", "Status Type", "Deal Status", "Opportunity Status", "Opportunity State",
               "State",
               # Dynamics 365's Web API: the state's label (Open / Won / Lost), else its code
               "statecode@OData.Community.Display.V1.FormattedValue", "State Code",
               "Status Reason", "Won/Lost",
               "商机状态", "阶段状态", "交易状态", "机会状态", "状态", "赢单状态", "Estado",
               "Statut",  # 阶段状态: 纷享销客's 进行中 / 赢单 / 输单 beside its 商机阶段
               # Bitrix24's stage semantics, P / S / F (sources.generic reads the codes)
               "STAGE_SEMANTIC_ID", "STATUS_SEMANTIC_ID"),
    "active": ("Active", "Is Active", "有效", "Actif"),
    "lost_reason": ("Lost Reason", "Loss Reason", "Reason for Loss", "Closed Lost Reason",
                    "Lost Reason Name", "输单原因", "丢单原因", "失败原因", "流失原因",
                    "Raison de la perte", "lost_reason_id"),  # Odoo's field
    "stage": ("To Stage", "New Stage", "Stage", "Deal Stage", "Sales Stage", "Opportunity Stage",
              "Pipeline Stage", "Stage Name", "Pipeline Phase", "Step Name", "变更后阶段", "新阶段",
              "新状态", "销售阶段", "商机阶段", "交易阶段", "阶段", "フェーズ", "단계", "거래 단계",
              "Стадия сделки", "Стадия", "Этап сделки", "Этап", "Phase", "Etapa", "Étape",
              "Fase", "Phase de la transaction", "Etapa del negocio", "Fase do negócio",
              "Deal-Phase", "Milestone",  # Agile CRM's and Capsule's stage
              "Fase della trattativa", "Lead status", "Etap",  # HubSpot Italian, Kommo, Polish
              "stage_id"),  # Odoo's and Pipedrive's field: a name, or an id (still a stage)
    "closed": ("Actual Close Date", "Actual Closing Date", "Actual Close", "实际成交时间",
               "实际结束时间", "实际结束日期", "实际签单日期", "实际签约日期", "实际关闭日期",
               "实际关闭时间", "Tatsächliches Abschlussdatum", "Date Closed", "Closed Date",
               "Closed On", "Closed At",
               "Closed Time", "Deal Closed On", ("Won Time", "Lost Time"),
               # a win's date and a loss's in two columns (Close, 企业微信, 销售易)
               ("Date Won", "Date Lost"), ("Won Date", "Lost Date"), ("Won On", "Lost On"),
               ("赢单日期", "输单日期"), ("赢单时间", "输单时间"), ("成交日期", "输单日期"),
               ("成交时间", "输单时间"), ("成交日期", "丢单日期"), "Won/Lost Date",
               "Close Date", "Closing Date", "Close Time", "Closed", "实际成交日期", "成交日期",
               "结单日期", "赢单日期", "结案日期", "结束日期", "关闭日期", "关闭时间", "签约日期",
               "成交时间", "完了日", "完了予定日", "마감일", "Дата закрытия", "Date Won",
               ("Gewonnen am", "Verloren am"), ("Hora de ganado", "Hora de pérdida"),
               ("Data de ganho", "Data de perda"), ("Date de gain", "Date de perte"),
               "Abschlussdatum", "Fecha de cierre",
               "Date de clôture", "Data de fechamento", "Schlusstermin", "Date de fermeture",
               # Teamleader's Dutch, HubSpot's Italian and Polish CRMs' close
               "Afgesloten op", "Data di chiusura", "Data zamknięcia"),
    "entered": ("Entered At", "Date Entered", "Entered", "Stage Entered", "Entered Date",
                "Date Entered Stage", "Entered Stage",  # a stage history's, beside its exit
                "Changed At", "Change Date", "Changed On", "Stage Change Date", "Timestamp",
                "进入时间", "进入阶段时间", "阶段变更时间", "变更时间", "操作时间"),
    "outcome": ("Outcome", "Result", "结果"),
    "from_stage": ("From Stage", "Old Stage", "Previous Stage", "变更前阶段", "原阶段", "旧阶段",
                   "原状态"),
    "expected_close": ("Expected Close Date", "Expected Closing Date", "Expected Closing",
                       "Est. Close Date", "Estimated Close Date", "Forecast Close Date",
                       "预计成交日期", "预计结单日期", "预计结案日期", "预计签约日期",
                       "预计成交时间", "预计结束时间", "预计结束日期", "预计签单日期", "预期结束",
                       "예상 마감일", "Предполагаемая дата закрытия",
                       "Fecha prevista de cierre", "Data prevista de fechamento",
                       "Date de clôture prévue", "Geschatte sluitingsdatum",
                       "Previsão de fechamento",
                       "date_deadline"),  # Odoo's expected closing
    # the day a deal entered the stage it is in (Keap, Freshsales, Salesforce's
    # LastStageChangeDate): a won or lost deal's close where no column says the real one
    "stage_since": ("Date Moved to Current Stage", "Moved to Current Stage",
                    "Deal stage updated at", "Stage Updated At", "Stage Updated On",
                    "Last Stage Change Date", "Last Stage Change", "Last Stage Changed",
                    "Stage Last Changed", "Stage Changed At", "Stage Changed On",
                    "Date Entered Current Stage", "Current Stage Since", "In Stage Since",
                    "Last Stage Change At", "Last Stage Change On", "Last Stage Changed At",
                    "Date of Last Stage Change", "Stage Last Changed At",
                    "阶段更新时间", "阶段更新日期", "最后阶段变更时间", "最近阶段变更时间",
                    "进入当前阶段时间", "进入当前阶段日期"),
    "engaged": ("Engage Date", "Engaged", "Engaged Date", "Engaged On"),
    "created": ("Created", "Created Date", "Create Date", "Created Time", "Created On",
                "Created At", "Date Created", "Deal Created", "Add Time", "Added At", "Added On",
                "Creation Date", "Creation Log",  # monday.com's: who made it, then when
                "创建时间", "创建日期", "建立日期", "建立时间", "新建时间", "录入时间", "创建于",
                "作成日", "생성일", "작성일", "Дата создания", "DATE_CREATE", "DATE_CREATED_UTC",
                "立项日期",
                "立项时间",
                "Deal erstellt", "Erstellt am", "Erstellungsdatum", "Fecha de creación",
                "Date de création", "Data de criação", "Erstelldatum", "Créé le",
                "Negocio creado", "Negócio criado", "Affaire créée",
                "Aangemaakt op", "Data di creazione", "Data utworzenia"),
    "value": ("Amount (converted)", "Opportunity Amount", "Amount", "Deal Amount",
              "Value Formatted", "Value",
              "Deal Value", "Opportunity Value", "Deal Size",
              ("actualvalue", "estimatedvalue"), "Estimated Value",
              ("Actual Revenue", "Est. Revenue"), "Est. Revenue", "Estimated Revenue",
              "Expected Revenue", "Close Value", "Revenue", "商机金额", "合同金额", "成交金额",
              "销售金额", "签单金额", "签约金额", "预计成交金额", "预计销售金额", "预计签单金额",
              "预计金额", "金额", "预期收入", "금액", "Сумма",
              "Бюджет", "Wert", "Betrag", "Importe", "Montant", "Valor", "Revenu espéré", "Budget",
              "Income", "Projected Revenue High", "Projected Revenue",
              "Bid Amount", "Contract Value",
              "合同金额（小写）", "金额（小写）",
              # Teamleader's Dutch, RD Station's, HubSpot's Italian and Polish CRMs' amount
              "Geschatte waarde", "Waarde", "Bedrag", "Valor Único", "Importo", "Wartość",
              "Kwota",
              "Sale",  # Kommo's (amoCRM's) English budget
              "Opportunity"),  # Bitrix24's API amount; the deal's name elsewhere (not numbers)
    "probability": ("Probability", "Probability (%)", "Deal Probability", "Win Probability",
                    "Confidence", "Close Probability",
                    "赢率", "赢单率", "成交概率", "赢单概率", "成交率", "可能性", "概率", "確度",
                    "확률", "Вероятность"),
    "forecast_category": ("Forecast Category", "Forecast Category Name", "预测类别", "预测分类"),
    "currency": ("Amount (converted) Currency", "Amount Currency", "Value Currency", "Currency",
                 "Deal Currency", "Opportunity Currency", "Currency Code", "Deal Currency Code",
                 "Currency of Value", "Currency ISO Code", "币种", "货币", "币别", "通貨", "통화",
                 "Валюта", "Währung", "Devise", "Moneda", "Moeda", "Moneda del valor",
                 "Moeda do valor", "Devise de la valeur", "Valuta", "Waluta",
                 "Bid Currency",  # Insightly's (BID_CURRENCY beside BID_AMOUNT)
                 "company_currency",  # Odoo's crm.lead field for its expected revenue
                 "CURRENCY_ID"),  # Bitrix24's
    "owner": ("Owner", "Deal Owner", "Opportunity Owner", "Owner Name", "Sales Agent",
              "Salesperson", "Sales Person", "Sales Owner", "Sales Rep", "Account Executive",
              "Assigned To", "负责人", "销售负责人", "业务机会所有人", "交易所有者", "所有人",
              "销售人员", "销售代表", "业务员", "跟进人", "归属人", "销售", "商談 所有者",
              "所有者", "销售员", "담당자", "소유자", "Ответственный", "User Name", "Besitzer",
              "Propietario", "Propriétaire", "Proprietário", "Opportunity-Inhaber", "Vendeur",
              "Propietario de oportunidad", "Propriétaire de l'opportunité",
              "Propriétaire de la transaction", "Propietario del negocio",
              "Proprietário do negócio", "Deal-Inhaber", "Verantwortlich",
              "Responsible", "Responsible person",  # Bitrix24's English (Ответственный)
              "owner_name", "user_id.name",  # Pipedrive's API (flattened)
              "user_id",  # Odoo's salesperson (and Pipedrive's owner), a link by its name
              "ASSIGNED_BY_ID"),  # Bitrix24's responsible person
    "account": ("Account", "Account Name", "Organization", "Organization Name",
                "Associated Company", "Associated Company (Primary)", "Company", "Company Name",
                "Customer", "Customer Name", "Potential Customer", "Client", "客户名称", "客户名",
                "客户", "公司名称", "公司", "取引先名", "고객사", "계정 이름", "Компания",
                "Клиент", "Lead Name", "org_name", "org_id.name",
                "partner_id"),  # Odoo's customer, a link by its name
    "product": ("Product", "Product Name", "Products", "Product Line", "Deal Type",
                "Opportunity Type", "Type", "产品", "产品名称", "产品线", "商机类型",
                "Pipeline", "管道", "销售流程"),  # with no type, the pipeline is one
    "team": ("Sales Team", "Team", "Business Unit", "销售团队", "团队", "所属部门", "部门",
             "team_id"),  # Odoo's sales team
    "segment": ("Segment", "Customer Segment", "Market Segment", "客户分类", "细分市场"),
}
# close columns that name when a deal did close, where an open deal has no date (a plain
# "Close Date" is also an open deal's expected close)
ACTUAL_CLOSE: tuple[str, ...] = ("Actual Close Date", "Actual Closing Date", "Actual Close",
                                 "Date Closed", "Closed Date", "Closed On", "Closed At",
                                 "Closed Time", "Deal Closed On", "Won/Lost Date",
                                 "实际成交日期", "实际成交时间", "实际结束时间", "实际结束日期",
                                 "实际签单日期", "实际签约日期", "实际关闭日期", "实际关闭时间",
                                 "Tatsächliches Abschlussdatum", "结单日期", "关闭日期",
                                 "关闭时间")
# a row's last edit, the time of the change in a stage history (where ids repeat through
# several stages, see recognise); in a one-row-per-deal export it is no stage's entry
EDITED: tuple[str, ...] = ("Edit Date", "Last Modified", "Last Modified Date", "Modified Time",
                           "Modified Date", "Modified On", "Date Changed", "Last Modified On",
                           "Last Updated", "Last Updated On", "Last Update", "Update Time",
                           "Updated Time", "Updated At", "Updated On", "Updated", "修改时间",
                           "最后修改时间", "更新时间", "最后更新时间", "修改日期")
# names a deal's title goes by: its id when the export has no id column
TITLES: tuple[str, ...] = ("Deal Name", "Opportunity Name", "Deal Title", "Title", "Name",
                           "Topic", "Opportunity", "Deal", "商机名称", "业务机会名称",
                           "交易名称", "名称", "商机", "商談名", "거래명", "기회 이름",
                           "Название сделки", "Название", "项目名称", "Titel",
                           "Nombre de la oportunidad", "Nom de l'opportunité",
                           "Nome da oportunidade", "Opportunity-Name", "Opportunité",
                           "Nom de la transaction", "Nombre del negocio", "Nome do negócio",
                           "Deal-Name", "Título", "Verkaufschance", "Bezeichnung",
                           "Nome trattativa", "Nome", "Nazwa")
# fmt: on
# Bitrix24's stage history: a deal's stage and its semantics, a lead's status and its own
# (the semantics optional: a selection of fields may leave them out)
_ENTITY_HISTORY = (("STAGE_ID", "STAGE_SEMANTIC_ID"), ("STATUS_ID", "STATUS_SEMANTIC_ID"))
# an object's name before its fields (Pipedrive's "Deal - Value", in Spanish "Negocio - ",
# Portuguese "Negócio - ", French "Affaire - ", German "Deal - ")
_PREFIXES = (
    "deal",
    "opportunity",
    "opportunities",
    "deals",
    "lead",
    "商机",
    "negocio",
    "negócio",
    "affaire",
)  # fmt: skip


@dataclass(frozen=True)
class Recognised:
    """The columns taken for each field, and the shape they make."""

    shape: str
    columns: dict[str, str | tuple[str, ...]]
    id_is_name: bool = False

    def describe(
        self,
        used: dict[str, str | tuple[str, ...]] | None = None,
        given: frozenset[str] | set[str] = frozenset(),
    ) -> str:
        """What fed each field: ``used`` (the final mapping, default the recognised one), the
        fields ``given`` by flags marked."""
        used = self.columns if used is None else used
        taken = columns_text({f: c for f, c in used.items() if f not in given})
        named = columns_text({f: c for f, c in used.items() if f in given})
        return f"no preset fits the header; columns recognised by their names: {taken}" + (
            f"; named by --column: {named}" if named else ""
        )


# a unit or currency a header writes after its name: 金额（万元）, 金额（单位：万元）,
# 预计金额/万元, 金額（千円）, Amount (K), Amount ($000s), Revenue (in millions), Amount (USD),
# Amount (€)
_SUFFIX = re.compile(
    r"^(?P<base>.*?\S)\s*(?:[(（\[]\s*(?:单位\s*[:：]\s*)?(?P<a>[^()（）\[\]]{1,24}?)\s*[)）\]]"
    r"|[/／]\s*(?P<b>[^/／]{1,12}?)|\s+in\s+(?P<c>[A-Z]{3}))\s*$"  # Amount in USD
)
_SCALES = {"万": 1e4, "萬": 1e4, "亿": 1e8, "億": 1e8, "千": 1e3, "k": 1e3, "000": 1e3,
           "000s": 1e3, "thousands": 1e3, "inthousands": 1e3, "tsd": 1e3, "m": 1e6, "mm": 1e6,
           "mn": 1e6, "millions": 1e6, "inmillions": 1e6, "mio": 1e6,
           "mrd": 1e9}  # fmt: skip
_WRITTEN = {"€": "EUR", "£": "GBP", "元": "CNY", "人民币": "CNY", "RMB": "CNY", "円": "JPY",
            "美元": "USD", "欧元": "EUR", "日元": "JPY", "英镑": "GBP", "港币": "HKD",
            "港元": "HKD", "新台币": "TWD", "韩元": "KRW",
            "$": None, "¥": None, "￥": None}  # fmt: skip
_CURRENCY_WORDS = "人民币|美元|欧元|日元|英镑|港币|港元|新台币|韩元"
_UNIT_PARTS = re.compile(
    rf"{_CURRENCY_WORDS}|RMB|[A-Z]{{3}}(?![A-Za-z])|[$€£¥￥元円]"
    rf"|(?:(?!{_CURRENCY_WORDS})[^$€£¥￥元円])+"
)


@dataclass(frozen=True)
class HeaderUnit:
    """What a header's suffix says of its cells: the name without it, the scale of a cell
    written bare, and a currency (an ISO code, or None where it names none or several)."""

    base: str
    unit: str  # as written, e.g. 万元, K, USD
    scale: float
    currency: str | None
    decimal_comma: bool = False  # a German unit (Tsd., Mio.): its cells written the German way


def header_unit(column: str) -> HeaderUnit | None:
    """The unit and currency a column's header writes after its name (None when its suffix
    is neither: ``Probability (%)``, ``Amount (converted)``)."""
    m = _SUFFIX.match(column.strip())
    if m is None:
        return None
    text = (m["a"] or m["b"] or m["c"] or "").strip()
    scale, currency, seen, german = 1.0, None, False, False
    for part in (p for token in text.split() for p in _UNIT_PARTS.findall(token)):
        word = part.strip()
        key = word.casefold().replace("'", "").replace("’", "").replace(".", "").replace(" ", "")
        if not key or key == "in":  # Amount (in USD)
            continue
        if key in _SCALES:
            scale, seen, german = _SCALES[key], True, key in ("tsd", "mio", "mrd")
        elif word in _WRITTEN or (re.fullmatch("[A-Z]{3}", word) and word in _codes()):
            currency, seen = _WRITTEN.get(word, word), True
        else:
            return None
    return HeaderUnit(m["base"], text, scale, currency, german) if seen else None


# a time zone a date column's header names: Close Date (UTC), 创建时间(GMT+8), (北京时间)
_ZONE_SUFFIX = re.compile(
    r"^(?P<base>.*?\S)\s*[(（\[]\s*(?:UTC|GMT|Z|北京时间)(?:\s*[+-]\s*\d{1,2}(?::?\d{2})?)?\s*"
    r"[)）\]]\s*$",
    re.IGNORECASE,
)


@functools.cache
def _codes() -> frozenset[str]:
    from babel.numbers import list_currencies  # only for a header with a suffix

    return frozenset(list_currencies())


_API_FIELD = re.compile(r"^properties\.(?P<name>[^.]+)(?:\.value)?$")


def column_keys(column: str) -> list[str]:
    """A header cell's keys: the whole name, then a flattened lookup's field (``Owner.name``:
    ``Owner``), the name after an object prefix, then the name without a unit or currency
    suffix (``Amount (USD)``, ``金额（万元）``)."""
    keys = [label_key(column)]
    # an API's record flattened (HubSpot's properties.dealstage, v1's properties.amount.value)
    if (api := _API_FIELD.match(column)) is not None:
        keys.append(label_key(api["name"]))
    # a lookup's name in an API record, flattened (Zoho's Account_Name.name, Salesforce's
    # Account.Name): the field it looks up
    head, dot, tail = column.rpartition(".")
    if dot and head.strip() and label_key(tail) == "name":
        keys.extend(k for k in column_keys(head) if k not in keys)
    for sep in (" - ", ": ", "-", "：", ":"):
        head, found, rest = column.partition(sep)
        if found and rest.strip() and label_key(head) in _PREFIXES:
            keys.append(label_key(rest))
    if (unit := header_unit(column)) is not None:
        keys.extend(k for k in column_keys(unit.base) if k not in keys)
    if (zone := _ZONE_SUFFIX.match(column.strip())) is not None:  # Close Date (UTC)
        keys.extend(k for k in column_keys(zone["base"]) if k not in keys)
    return keys


def recognise(
    header: Sequence[str],
    fits: Callable[[str, str], bool] | None = None,
    history: Callable[[str, str, str | None], bool] | None = None,
) -> Recognised | None:
    """The fields the header's column names stand for (None when none is recognised); with
    ``fits``, a column is taken for a field only if ``fits(field, column)`` (its cells look like
    the field's: dates for a date), else the next name is tried. One row per stage change when
    there is a time of change and no close date, or when ``history(id, stage, created)`` says
    the rows are a history (Salesforce's and Zoho's stage histories write each deal's close date on
    every row: it is then its expected close)."""
    by_key: dict[str, str] = {}
    for col in header:
        for key in column_keys(str(col)):
            by_key.setdefault(key, str(col))
    for stage, semantic in _ENTITY_HISTORY:  # its OWNER_ID is the deal: no other name applies
        keys = [label_key(n) for n in ("OWNER_ID", "CREATED_TIME", stage, semantic)]
        if all(k in by_key for k in keys[:3]):
            named = zip(("id", "entered", "stage", "outcome"), keys, strict=True)
            return Recognised("stage_changes", {f: by_key[k] for f, k in named if k in by_key})
    used: set[str] = set()

    def take(field: str, names: Sequence[str | tuple[str, ...]]) -> str | tuple[str, ...] | None:
        for name in names:
            parts = (name,) if isinstance(name, str) else name
            found = tuple(
                c
                for c in (by_key.get(label_key(p)) for p in parts)
                if c and c not in used and (fits is None or fits(field, c))
            )
            # a pair counts from its first column (a loss's date alone is no close date)
            if found and found[0] == by_key.get(label_key(parts[0])):
                used.update(found)
                return found[0] if len(found) == 1 else found
        return None

    columns: dict[str, str | tuple[str, ...]] = {}
    for field, names in NAMES.items():
        got = take(field, names)
        if got is not None:
            columns[field] = got
    id_is_name = False
    if "id" not in columns and (title := take("id", TITLES)) is not None:
        columns["id"], id_is_name = title, True
    if not columns:
        return None
    value, code = columns.get("value"), columns.get("currency")
    converted = isinstance(value, str) and label_key(value) == "amountconverted"
    if converted and isinstance(code, str) and label_key(code) != "amountconvertedcurrency":
        columns.pop("currency")  # the local amounts' currency: not the converted one's
    if "stage" not in columns and "status" in columns:
        columns["stage"] = columns.pop("status")  # a status alone is the stage: open/won/lost
    repeats = (
        history is not None and "id" in columns and isinstance(columns.get("stage"), str)
        and history(str(columns["id"]), str(columns["stage"]), _one(columns, "created"))
    )  # fmt: skip
    if repeats and "entered" not in columns and (edited := take("entered", EDITED)) is not None:
        columns["entered"] = edited
    changes = "entered" in columns and ("closed" not in columns or repeats)
    if changes:
        # a row per change: its time says when (and what it changed to)
        for f in ("status", "engaged", "lost_reason", "active", "stage_since"):
            columns.pop(f, None)
        if "closed" in columns:
            closed = columns.pop("closed")
            columns.setdefault("expected_close", closed)
        return Recognised("stage_changes", columns, id_is_name)
    if "outcome" in columns and "status" not in columns:  # a "Closed" stage, won or lost in it
        columns["status"] = columns.pop("outcome")
    for f in ("entered", "outcome", "from_stage"):  # a history's own fields
        columns.pop(f, None)
    since = columns.pop("stage_since", None)
    if since is not None and "closed" not in columns:
        # a won or lost deal closed the day it entered its won or lost stage: that, not its
        # plan, is its close (an open deal's plan stays its expected close)
        columns["closed"] = since
    if "engaged" not in columns and "created" in columns:
        columns["engaged"] = columns.pop("created")  # work began when the deal was made
    if "closed" not in columns and "expected_close" in columns:
        # the only close date is the expected one: a CRM sets it to the day a deal closes
        # (Bitrix24's "Expected close date", Salesforce's Close Date)
        columns["closed"] = columns.pop("expected_close")
    return Recognised("opportunities", columns, id_is_name)


def _one(columns: dict[str, str | tuple[str, ...]], field: str) -> str | None:
    column = columns.get(field)
    return column if isinstance(column, str) else None


def name_ids(frame: pd.DataFrame, column: str) -> pd.Series:
    """Deal names as ids: a name shared by rows that differ gets its line (`` (line 7)``)
    from its second row on; an exact copy of an earlier row keeps the name (and is dropped as a
    duplicate row by the importer)."""
    names = frame[column].astype(str)
    later = names.duplicated(keep="first") & (names.str.strip() != "")  # a blank stays blank
    copy = frame.duplicated(keep="first")
    lines = pd.Series(frame.index.to_numpy() + 2, index=frame.index).astype(str)  # file lines
    return names.where(~later | copy, names + " (line " + lines + ")")
