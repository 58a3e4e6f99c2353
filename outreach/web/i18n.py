# ruff: noqa: RUF001  (a Chinese catalogue: full-width punctuation is the point)
"""The page's words in Simplified Chinese (the users' language, the default) and English."""

# ``MESSAGES`` maps a key to its text per language; ``LABELS`` names the service's vocabulary
# (stages, outcomes, programmes, event types, data fields) for display. A key missing from a
# language falls back to Chinese, then to the key itself, so a new event type or field still shows
# (by its code name) before anyone translates it.

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

__all__ = ["DEFAULT_LANG", "LANGS", "Lang", "Translator", "translator"]

Lang = Literal["zh-CN", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh-CN", "en")
DEFAULT_LANG: Final[Lang] = "zh-CN"

# -- page text ---------------------------------------------------------------------------------

MESSAGES: Final[dict[str, dict[Lang, str]]] = {
    "app.title": {"zh-CN": "主动救助服务", "en": "Proactive outreach"},
    "nav.label": {"zh-CN": "主导航", "en": "Main navigation"},
    "nav.tasks": {"zh-CN": "走访任务", "en": "Visit tasks"},
    "nav.ops": {"zh-CN": "运行概况", "en": "Overview"},
    "nav.signout": {"zh-CN": "退出登录", "en": "Sign out"},
    "nav.signed_in_as": {"zh-CN": "当前用户", "en": "Signed in as"},
    "skip": {"zh-CN": "跳到主要内容", "en": "Skip to main content"},
    "lang.switch": {"zh-CN": "English", "en": "中文"},
    "lang.switch_label": {"zh-CN": "切换到英文", "en": "Switch to Chinese"},
    # sign-in
    "signin.title": {"zh-CN": "登录", "en": "Sign in"},
    "signin.intro": {
        "zh-CN": "请粘贴管理员用 outreach tokens create 为你生成的访问令牌。",
        "en": "Paste the access token an administrator made for you with outreach tokens create.",
    },
    "signin.token": {"zh-CN": "访问令牌", "en": "Access token"},
    "signin.submit": {"zh-CN": "登录", "en": "Sign in"},
    "signin.invalid": {
        "zh-CN": "令牌无效或已被吊销，请检查后重试。",
        "en": "The token is unknown or revoked; check it and try again.",
    },
    "signin.expired": {
        "zh-CN": "请先登录。",
        "en": "Please sign in first.",
    },
    "signin.signed_out": {"zh-CN": "你已退出登录。", "en": "You have signed out."},
    # inbox
    "tasks.title": {"zh-CN": "我的走访任务", "en": "My visit tasks"},
    "tasks.intro": {
        "zh-CN": "你所辖区域内待完成的入户走访，按截止时间排序（最早到期在前）。",
        "en": "Open home visits in your districts, soonest due first.",
    },
    "tasks.filter": {"zh-CN": "筛选", "en": "Filter"},
    "tasks.district": {"zh-CN": "区县", "en": "District"},
    "tasks.all_districts": {"zh-CN": "全部区县", "en": "All districts"},
    "tasks.apply": {"zh-CN": "应用", "en": "Apply"},
    "tasks.none": {"zh-CN": "暂无待完成的走访任务。", "en": "No open visit tasks."},
    "tasks.count": {
        "zh-CN": "共 {n} 项，其中 {overdue} 项已逾期。",
        "en": "{n} open, {overdue} overdue.",
    },
    "tasks.caption": {"zh-CN": "待完成的走访任务", "en": "Open visit tasks"},
    "col.task": {"zh-CN": "任务", "en": "Task"},
    "col.case": {"zh-CN": "案件", "en": "Case"},
    "col.district": {"zh-CN": "区县", "en": "District"},
    "col.kind": {"zh-CN": "类型", "en": "Kind"},
    "col.attempt": {"zh-CN": "次数", "en": "Attempt"},
    "col.stage": {"zh-CN": "阶段", "en": "Stage"},
    "col.due": {"zh-CN": "截止时间", "en": "Due"},
    "col.status": {"zh-CN": "状态", "en": "Status"},
    "col.action": {"zh-CN": "操作", "en": "Action"},
    "task.overdue": {"zh-CN": "已逾期", "en": "Overdue"},
    "task.on_time": {"zh-CN": "未到期", "en": "On time"},
    "task.escalated": {"zh-CN": "已上报主管", "en": "escalated to supervisor"},
    "task.open_form": {"zh-CN": "填写走访结果", "en": "Record visit"},
    "task.view_case": {"zh-CN": "查看案件", "en": "View case"},
    # visit form
    "visit.title": {"zh-CN": "记录走访结果", "en": "Record a home visit"},
    "visit.task_info": {"zh-CN": "任务信息", "en": "Task"},
    "visit.closed": {
        "zh-CN": "此任务已不是待办状态，无法再提交结果。",
        "en": "This task is no longer open; no result can be recorded.",
    },
    "visit.not_allowed": {
        "zh-CN": "你的角色不能记录走访结果（只能查看）。",
        "en": "Your role may not record visit results (read only).",
    },
    "visit.visited_on": {"zh-CN": "走访日期", "en": "Visited on"},
    "visit.found": {"zh-CN": "是否见到住户", "en": "Was the household reached?"},
    "visit.found_yes": {"zh-CN": "见到了", "en": "Yes, reached"},
    "visit.found_no": {"zh-CN": "未见到（将安排再次走访）", "en": "No (another visit follows)"},
    "visit.household": {"zh-CN": "家庭情况", "en": "Household"},
    "visit.household_size": {"zh-CN": "家庭人口数", "en": "Household size"},
    "visit.income": {"zh-CN": "家庭月总收入（元）", "en": "Monthly income, whole household (yuan)"},
    "visit.labor": {"zh-CN": "每位成员的劳动能力", "en": "Labour capacity of each member"},
    "visit.labor_member": {"zh-CN": "成员 {n}", "en": "Member {n}"},
    "visit.labor_hint": {
        "zh-CN": "每位家庭成员一项，数量须与家庭人口数一致。",
        "en": "One entry per member; as many as the household size.",
    },
    "visit.add_member": {"zh-CN": "增加成员", "en": "Add member"},
    "visit.remove_member": {"zh-CN": "删除最后一位成员", "en": "Remove last member"},
    "visit.consent": {
        "zh-CN": "住户同意进行家庭经济状况核对",
        "en": "The household consents to the economic-status check",
    },
    "visit.consent_hint": {
        "zh-CN": "未同意核对时，案件将以“拒绝核对”结案。",
        "en": "Without consent the case closes as declined.",
    },
    "visit.supporter": {
        "zh-CN": "是否有法定赡养/扶养/抚养人",
        "en": "Legal supporter able to help",
    },
    "visit.supporter_unknown": {"zh-CN": "不清楚", "en": "Unknown"},
    "visit.supporter_yes": {"zh-CN": "有", "en": "Yes"},
    "visit.supporter_no": {"zh-CN": "无", "en": "No"},
    "visit.assets": {"zh-CN": "家庭财产", "en": "Assets"},
    "visit.vehicles": {"zh-CN": "机动车（辆）", "en": "Vehicles"},
    "visit.homes": {"zh-CN": "住房（套）", "en": "Homes"},
    "visit.business_premises": {"zh-CN": "商铺/经营用房（处）", "en": "Business premises"},
    "visit.financial_assets": {
        "zh-CN": "存款及金融资产（元）",
        "en": "Savings and deposits (yuan)",
    },
    "visit.notes": {"zh-CN": "备注", "en": "Notes"},
    "visit.notes_warning": {
        "zh-CN": "请勿填写姓名、身份证号、电话或住址。",
        "en": "Do not enter names, ID numbers, phone numbers or addresses.",
    },
    "visit.submit": {"zh-CN": "提交走访结果", "en": "Submit visit result"},
    "visit.rejected": {
        "zh-CN": "未能提交，案件未作任何更改：",
        "en": "Not recorded; the case is unchanged:",
    },
    "visit.invalid_field": {"zh-CN": "请检查此项：", "en": "Please check:"},
    "visit.done": {
        "zh-CN": "走访结果已提交，案件现处于“{stage}”阶段。",
        "en": "Visit result recorded; the case is now at stage “{stage}”.",
    },
    # case page
    "case.title": {"zh-CN": "案件", "en": "Case"},
    "case.summary": {"zh-CN": "概要", "en": "Summary"},
    "case.status": {"zh-CN": "状态", "en": "Status"},
    "case.stage": {"zh-CN": "阶段", "en": "Stage"},
    "case.district": {"zh-CN": "区县", "en": "District"},
    "case.programmes": {"zh-CN": "涉及项目", "en": "Programmes"},
    "case.outcome": {"zh-CN": "结果", "en": "Outcome"},
    "case.reason": {"zh-CN": "结案原因", "en": "Reason"},
    "case.opened_at": {"zh-CN": "立案时间", "en": "Opened"},
    "case.updated_at": {"zh-CN": "最近更新", "en": "Updated"},
    "case.closed_at": {"zh-CN": "结案时间", "en": "Closed"},
    "case.household": {"zh-CN": "家庭编号（化名）", "en": "Household (pseudonym)"},
    "case.workflow": {"zh-CN": "在 Temporal 中查看流程执行记录", "en": "Workflow in Temporal UI"},
    "case.tasks": {"zh-CN": "走访任务", "en": "Visit tasks"},
    "case.no_tasks": {"zh-CN": "暂无走访任务。", "en": "No visit tasks."},
    "case.timeline": {"zh-CN": "案件时间线", "en": "Timeline"},
    "case.timeline_intro": {
        "zh-CN": "事件库中记录的本案事件，按发生顺序排列（最新在最后）。",
        "en": "The case's events from the event store, in order (newest last).",
    },
    "case.personal": {
        "zh-CN": "个人信息（本次查看已记入访问日志）",
        "en": "Personal data (this view is logged)",
    },
    "case.shredded": {"zh-CN": "个人信息已销毁", "en": "Personal data erased"},
    "case.trace": {"zh-CN": "决定依据", "en": "Decision trace"},
    "case.awards": {"zh-CN": "核定待遇", "en": "Awards"},
    "case.none": {"zh-CN": "无", "en": "none"},
    "case.open": {"zh-CN": "办理中", "en": "open"},
    "case.closed": {"zh-CN": "已结案", "en": "closed"},
    "trace.rule": {"zh-CN": "规则", "en": "Rule"},
    "trace.programme": {"zh-CN": "项目", "en": "Programme"},
    "trace.result": {"zh-CN": "结果", "en": "Result"},
    "trace.passed": {"zh-CN": "✓ 符合", "en": "✓ passed"},
    "trace.failed": {"zh-CN": "✗ 不符合", "en": "✗ failed"},
    "trace.explanation": {"zh-CN": "说明", "en": "Explanation"},
    "trace.inputs": {"zh-CN": "输入", "en": "Inputs"},
    "trace.parameters": {
        "zh-CN": "参数（值、生效日期、适用范围）",
        "en": "Parameters (value, effective from, applies to)",
    },
    "trace.effective_from": {"zh-CN": "自", "en": "from"},
    "trace.applies_to": {"zh-CN": "适用", "en": "applies to"},
    "trace.always": {"zh-CN": "长期有效", "en": "always"},
    "award.monthly": {"zh-CN": "每月 {amount} 元", "en": "{amount} yuan/month"},
    "award.one_off": {"zh-CN": "一次性 {amount} 元", "en": "{amount} yuan once"},
    "award.from": {"zh-CN": "自 {date} 起", "en": "from {date}"},
    # ops
    "ops.title": {"zh-CN": "运行概况", "en": "Operations overview"},
    "ops.as_of": {"zh-CN": "统计时间", "en": "As of"},
    "ops.open_by_stage": {"zh-CN": "办理中案件（按阶段）", "en": "Open cases by stage"},
    "ops.closed_by_outcome": {"zh-CN": "已结案件（按结果）", "en": "Closed cases by outcome"},
    "ops.open_by_district": {"zh-CN": "办理中案件（按区县）", "en": "Open cases by district"},
    "ops.enrolments": {"zh-CN": "在保人数（按项目）", "en": "Active enrolments by programme"},
    "ops.visits": {"zh-CN": "走访任务", "en": "Visit tasks"},
    "ops.open_tasks": {"zh-CN": "待完成走访", "en": "Open visits"},
    "ops.overdue_tasks": {"zh-CN": "逾期走访", "en": "Overdue visits"},
    "ops.deadlettered": {"zh-CN": "无法处理的来件（死信）", "en": "Dead-lettered input"},
    "ops.stuck": {
        "zh-CN": "卡住的个案（工作流任务反复失败）",
        "en": "Stuck cases (workflow task keeps failing)",
    },
    "ops.stuck_unknown": {"zh-CN": "Temporal 未应答，无法列出。", "en": "Temporal did not answer."},
    "ops.stuck_workflow": {"zh-CN": "工作流", "en": "Workflow"},
    "ops.stuck_district": {"zh-CN": "区县", "en": "District"},
    "ops.stuck_problem": {"zh-CN": "问题", "en": "Problem"},
    "ops.projection_failures": {
        "zh-CN": "读模型跳过的事件（outreach projections failures）",
        "en": "Events projections skipped (outreach projections failures)",
    },
    "ops.skipped": {"zh-CN": "最近跳过的事件", "en": "Recently skipped events"},
    "ops.skipped_projection": {"zh-CN": "读模型", "en": "Projection"},
    "ops.skipped_position": {"zh-CN": "位置", "en": "Position"},
    "ops.skipped_event": {"zh-CN": "事件", "en": "Event"},
    "ops.skipped_reason": {"zh-CN": "原因", "en": "Reason"},
    "ops.skipped_at": {"zh-CN": "时间", "en": "When"},
    "ops.oldest_open": {"zh-CN": "最早的未结案件", "en": "Oldest open case"},
    "ops.none": {"zh-CN": "无", "en": "none"},
    "ops.count": {"zh-CN": "数量", "en": "Count"},
    "ops.total": {"zh-CN": "合计", "en": "Total"},
    # errors
    "error.403.title": {"zh-CN": "无权访问", "en": "Not allowed"},
    "error.403.text": {
        "zh-CN": "此内容不在你的管辖区县或权限范围内。",
        "en": "This is outside your districts or your role.",
    },
    "error.404.title": {"zh-CN": "未找到", "en": "Not found"},
    "error.404.text": {"zh-CN": "没有找到你要的案件或任务。", "en": "No such case or task."},
    "error.400.title": {"zh-CN": "请求无效", "en": "Bad request"},
    "error.csrf": {
        "zh-CN": "表单已过期或来源不明，请重新打开页面后再提交。",
        "en": "The form expired or did not come from this site; reload the page and try again.",
    },
    "error.detail": {"zh-CN": "详情", "en": "Detail"},
    "error.back": {"zh-CN": "返回任务列表", "en": "Back to the task list"},
    "yes": {"zh-CN": "是", "en": "yes"},
    "no": {"zh-CN": "否", "en": "no"},
}

# -- the service's vocabulary ------------------------------------------------------------------

LABELS: Final[dict[str, dict[Lang, str]]] = {
    # stages
    "stage.screening": {"zh-CN": "筛查", "en": "screening"},
    "stage.notify": {"zh-CN": "告知", "en": "notify"},
    "stage.visit": {"zh-CN": "入户走访", "en": "visit"},
    "stage.verify": {"zh-CN": "核对", "en": "verify"},
    "stage.decide": {"zh-CN": "审核决定", "en": "decide"},
    "stage.approval": {"zh-CN": "待主管审批", "en": "approval"},
    "stage.publicity": {"zh-CN": "公示", "en": "publicity"},
    "stage.enrol": {"zh-CN": "纳入保障", "en": "enrol"},
    "stage.closed": {"zh-CN": "已结案", "en": "closed"},
    # outcomes
    "outcome.enrolled": {"zh-CN": "已纳入保障", "en": "enrolled"},
    "outcome.not_eligible": {"zh-CN": "不符合条件", "en": "not eligible"},
    "outcome.declined": {"zh-CN": "拒绝核对", "en": "declined"},
    "outcome.unreachable": {"zh-CN": "无法联系", "en": "unreachable"},
    "outcome.withdrawn": {"zh-CN": "主动撤回", "en": "withdrawn"},
    "outcome.unknown": {"zh-CN": "未知", "en": "unknown"},
    # programmes
    "programme.dibao": {"zh-CN": "最低生活保障（低保）", "en": "dibao (minimum living allowance)"},
    "programme.tekun": {"zh-CN": "特困人员救助供养", "en": "tekun (destitute support)"},
    "programme.temporary_assistance": {"zh-CN": "临时救助", "en": "temporary assistance"},
    "programme.disability_living_subsidy": {
        "zh-CN": "困难残疾人生活补贴",
        "en": "disability living subsidy",
    },
    "programme.disability_nursing_subsidy": {
        "zh-CN": "重度残疾人护理补贴",
        "en": "severe-disability nursing subsidy",
    },
    # roles
    "role.caseworker": {"zh-CN": "社工", "en": "caseworker"},
    "role.supervisor": {"zh-CN": "主管", "en": "supervisor"},
    "role.ops": {"zh-CN": "运维", "en": "ops"},
    # task kinds, statuses
    "kind.visit": {"zh-CN": "首次走访", "en": "first visit"},
    "kind.reverify": {"zh-CN": "复核走访", "en": "re-verification"},
    "task.status.open": {"zh-CN": "待完成", "en": "open"},
    "task.status.completed": {"zh-CN": "已完成", "en": "completed"},
    "task.status.cancelled": {"zh-CN": "已取消", "en": "cancelled"},
    # labour capacity
    "labor.full": {"zh-CN": "完全劳动能力", "en": "full"},
    "labor.partial": {"zh-CN": "部分劳动能力", "en": "partial"},
    "labor.none": {"zh-CN": "无劳动能力", "en": "none"},
    # domain events
    "event.CaseOpened": {"zh-CN": "立案", "en": "Case opened"},
    "event.TriggerJoined": {"zh-CN": "新线索并入", "en": "Trigger joined"},
    "event.NoticeSent": {"zh-CN": "已告知住户", "en": "Notice sent"},
    "event.ReminderSent": {"zh-CN": "已再次提醒", "en": "Reminder sent"},
    "event.VisitScheduled": {"zh-CN": "安排入户走访", "en": "Visit scheduled"},
    "event.VisitOverdue": {"zh-CN": "走访逾期（已上报主管）", "en": "Visit overdue"},
    "event.VisitCompleted": {"zh-CN": "完成入户走访", "en": "Visit completed"},
    "event.VisitCancelled": {"zh-CN": "走访任务取消", "en": "Visit cancelled"},
    "event.EconomicStatusChecked": {"zh-CN": "经济状况核对", "en": "Economic status checked"},
    "event.EligibilityAssessed": {"zh-CN": "资格审核", "en": "Eligibility assessed"},
    "event.ApprovalRequested": {"zh-CN": "提请主管审批", "en": "Approval requested"},
    "event.ApprovalRecorded": {"zh-CN": "主管审批", "en": "Approval recorded"},
    "event.PublicityStarted": {"zh-CN": "开始公示", "en": "Publicity started"},
    "event.ObjectionRaised": {"zh-CN": "收到异议", "en": "Objection raised"},
    "event.PublicityEnded": {"zh-CN": "公示结束", "en": "Publicity ended"},
    "event.CaseWithdrawn": {"zh-CN": "住户撤回", "en": "Case withdrawn"},
    "event.EnrollmentFinalized": {"zh-CN": "纳入保障", "en": "Enrolment finalized"},
    "event.EnrollmentReviewed": {"zh-CN": "年度复核", "en": "Enrolment reviewed"},
    "event.CaseClosed": {"zh-CN": "结案", "en": "Case closed"},
    "event.disability.certificate.issued": {
        "zh-CN": "残联：残疾证核发",
        "en": "Disability certificate issued",
    },
    "event.disability.certificate.expiring": {
        "zh-CN": "残联：残疾证即将到期",
        "en": "Disability certificate expiring",
    },
    "event.medical.settlement.recorded": {
        "zh-CN": "医保：住院费用结算",
        "en": "Hospital settlement",
    },
    "event.monitoring.household.listed": {
        "zh-CN": "乡村振兴：纳入监测户",
        "en": "Listed for monitoring",
    },
    "event.facts.household.reported": {"zh-CN": "部门比对数据", "en": "Household facts reported"},
    # data fields (timeline)
    "field.case_id": {"zh-CN": "案件编号", "en": "case id"},
    "field.stage": {"zh-CN": "阶段", "en": "stage"},
    "field.district": {"zh-CN": "区县", "en": "district"},
    "field.urban": {"zh-CN": "城镇户籍", "en": "urban"},
    "field.trigger": {"zh-CN": "触发事件", "en": "trigger"},
    "field.programmes": {"zh-CN": "项目", "en": "programmes"},
    "field.screening": {"zh-CN": "筛查说明", "en": "screening"},
    "field.reconsidered": {"zh-CN": "重新筛查", "en": "reconsidered"},
    "field.channel": {"zh-CN": "渠道", "en": "channel"},
    "field.template": {"zh-CN": "模板", "en": "template"},
    "field.attempt": {"zh-CN": "次数", "en": "attempt"},
    "field.task_id": {"zh-CN": "任务编号", "en": "task id"},
    "field.kind": {"zh-CN": "类型", "en": "kind"},
    "field.due_at": {"zh-CN": "截止时间", "en": "due"},
    "field.escalated_to": {"zh-CN": "上报至", "en": "escalated to"},
    "field.found": {"zh-CN": "见到住户", "en": "found"},
    "field.visited_on": {"zh-CN": "走访日期", "en": "visited on"},
    "field.household_size": {"zh-CN": "家庭人口数", "en": "household size"},
    "field.monthly_income_total": {"zh-CN": "家庭月总收入", "en": "monthly income"},
    "field.labor_capacity": {"zh-CN": "劳动能力", "en": "labour capacity"},
    "field.consent_to_check": {"zh-CN": "同意核对", "en": "consent to check"},
    "field.assets": {"zh-CN": "财产", "en": "assets"},
    "field.has_supporter": {"zh-CN": "有法定扶养人", "en": "has supporter"},
    "field.notes": {"zh-CN": "备注", "en": "notes"},
    "field.reason": {"zh-CN": "原因", "en": "reason"},
    "field.decision_id": {"zh-CN": "决定编号", "en": "decision id"},
    "field.decided_on": {"zh-CN": "决定日期", "en": "decided on"},
    "field.decided_at": {"zh-CN": "决定时间", "en": "decided at"},
    "field.eligible": {"zh-CN": "符合条件", "en": "eligible"},
    "field.already_receiving": {"zh-CN": "已享受", "en": "already receiving"},
    "field.summary": {"zh-CN": "摘要", "en": "summary"},
    "field.circumstances": {"zh-CN": "家庭情况", "en": "circumstances"},
    "field.approval_required": {"zh-CN": "需主管审批", "en": "approval required"},
    "field.approval_reason": {"zh-CN": "审批原因", "en": "approval reason"},
    "field.approved": {"zh-CN": "批准", "en": "approved"},
    "field.supervisor": {"zh-CN": "主管", "en": "supervisor"},
    "field.comment": {"zh-CN": "意见", "en": "comment"},
    "field.ends_at": {"zh-CN": "公示截止", "en": "ends at"},
    "field.round": {"zh-CN": "轮次", "en": "round"},
    "field.objection_id": {"zh-CN": "异议编号", "en": "objection id"},
    "field.received_on": {"zh-CN": "收到日期", "en": "received on"},
    "field.recorded_by": {"zh-CN": "记录人", "en": "recorded by"},
    "field.outcome": {"zh-CN": "结果", "en": "outcome"},
    "field.verified": {"zh-CN": "核对结果", "en": "verified"},
    "field.discrepancies": {"zh-CN": "差异", "en": "discrepancies"},
    "field.person": {"zh-CN": "当事人", "en": "person"},
    "field.household": {"zh-CN": "家庭", "en": "household"},
    "field.certificate": {"zh-CN": "残疾证", "en": "certificate"},
    "field.settlement": {"zh-CN": "结算", "en": "settlement"},
    "field.members": {"zh-CN": "家庭成员", "en": "members"},
    "field.risk": {"zh-CN": "风险类型", "en": "risk"},
    "field.per_capita_annual_income": {"zh-CN": "人均年收入", "en": "per-capita annual income"},
    "field.fact": {"zh-CN": "比对事实", "en": "fact"},
    "field.vehicles": {"zh-CN": "机动车", "en": "vehicles"},
    "field.homes": {"zh-CN": "住房", "en": "homes"},
    "field.business_premises": {"zh-CN": "经营用房", "en": "business premises"},
    "field.financial_assets": {"zh-CN": "金融资产", "en": "financial assets"},
    "field.facts_used": {"zh-CN": "采用的比对数据", "en": "facts used"},
    "field.existing_benefits": {"zh-CN": "已享受待遇", "en": "existing benefits"},
    "field.name": {"zh-CN": "姓名", "en": "name"},
    "field.id_number": {"zh-CN": "身份证号", "en": "ID number"},
    "field.phone": {"zh-CN": "电话", "en": "phone"},
    "field.address": {"zh-CN": "住址", "en": "address"},
    "field.relation": {"zh-CN": "关系", "en": "relation"},
    "field.age": {"zh-CN": "年龄", "en": "age"},
}


@dataclass(frozen=True)
class Translator:
    """Text for one language: ``t(key, **values)`` for page text, ``label(kind, code)`` for the
    service's vocabulary (falls back to the code itself)."""

    lang: Lang

    def t(self, key: str, **values: object) -> str:
        text = _pick(MESSAGES.get(key), self.lang) or key
        return text.format(**values) if values else text

    def label(self, kind: str, code: object) -> str:
        if code is None or code == "":
            return "—"
        return _pick(LABELS.get(f"{kind}.{code}"), self.lang) or str(code)

    def has_label(self, kind: str, code: object) -> bool:
        return f"{kind}.{code}" in LABELS

    @property
    def other(self) -> Lang:
        return "en" if self.lang == "zh-CN" else "zh-CN"


def _pick(texts: Mapping[Lang, str] | None, lang: Lang) -> str | None:
    if texts is None:
        return None
    return texts.get(lang) or texts.get(DEFAULT_LANG)


def translator(lang: str | None) -> Translator:
    """The translator for ``lang`` (``zh-CN`` unless it is ``en``)."""
    return Translator("en" if lang == "en" else DEFAULT_LANG)
