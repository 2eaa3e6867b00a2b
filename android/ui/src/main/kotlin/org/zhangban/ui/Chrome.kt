package org.zhangban.ui

import androidx.compose.runtime.Composable
import org.zhangban.kit.Lang

/**
 * The app's own words (tabs, buttons, headings) in Chinese and English. Everything about the person's data
 * (states, notices, errors, field labels, problems, checklists, licence status) comes from the core in both
 * languages; only the chrome is here, in Kotlin so the same sources compile for Android and the desktop tests.
 */
class Chrome(val lang: Lang) {
    private fun t(zh: String, en: String) = lang.pick(zh, en)

    val tabTodo get() = t("待办", "To do")
    val tabWallet get() = t("证照", "Wallet")
    val tabServices get() = t("办事", "Services")
    val tabCases get() = t("我的办件", "My cases")
    val tabSettings get() = t("设置", "Settings")
    val pinTitle get() = t("启动密码（PIN）", "PIN")
    val pinIsSet get() = t("已设置 PIN：打开掌办时需要输入。", "A PIN is set: Zhangban asks for it when it opens.")
    val pinNotSet get() = t("未设置 PIN。设置后，打开掌办需要输入。", "No PIN yet. With one, Zhangban asks for it when it opens.")
    val pinOld get() = t("当前 PIN", "Current PIN")
    val pinNew get() = t("新 PIN", "New PIN")
    val pinAgain get() = t("再次输入新 PIN", "New PIN again")
    val pinMismatch get() = t("两次输入的 PIN 不一致", "The two PINs differ")
    val pinSaved get() = t("PIN 已保存", "PIN saved")
    val pinSet get() = t("设置 PIN", "Set the PIN")
    val pinChange get() = t("修改 PIN", "Change the PIN")
    val unlockTitle get() = t("输入 PIN 解锁掌办", "Enter your PIN to open Zhangban")
    val unlockHint get() = t("PIN 只保存在本机：连续输错 5 次后需要等待，等待时间逐次加倍。", "The PIN stays on this phone: after 5 wrong tries you wait, longer each time.")
    val unlock get() = t("解锁", "Unlock")
    val display get() = t("显示", "Display")
    val largeText get() = t("大字模式", "Large text")
    val language get() = t("语言", "Language")
    val langSystem get() = t("跟随系统", "As the device")
    val about get() = t("关于", "About")
    val aboutApp get() = t("掌办：离线优先的掌上政务服务。", "Zhangban: government services in your hand, offline first.")
    fun trustListAge(secs: Long?) = when {
        secs == null -> t("尚未下载签发机构名单：亮证和核验需要它。", "No issuer list yet: presenting and verifying need it.")
        secs < 3600 -> t("签发机构名单：1 小时内更新。", "Issuer list: updated within the hour.")
        secs < 86_400 -> t("签发机构名单：${secs / 3600} 小时前更新。", "Issuer list: updated ${secs / 3600} h ago.")
        else -> t("签发机构名单：${secs / 86_400} 天前更新。", "Issuer list: updated ${secs / 86_400} days ago.")
    }
    val opening get() = t("正在打开加密存储…", "Opening your encrypted store…")
    val retry get() = t("重试", "Try again")
    val back get() = t("返回", "Back")
    val requestSampleLicence get() = t("领取示例居民身份证（沙箱）", "Get a sample resident ID (sandbox)")
    val noLicences get() = t("还没有电子证照。", "No e-licences yet.")
    val presentHotel get() = t("酒店入住", "Hotel check-in")
    val presentAge get() = t("年龄核验", "Age check")
    val presentFull get() = t("全部信息", "Everything")
    fun qrValidFor(s: Int) = t("${s} 秒内有效，到时自动换新码", "Valid for $s s; a new code follows automatically")
    val qrDescription get() = t("亮证二维码", "Presentation QR code")
    val scanChallenge get() = t("扫描核验方挑战码（防转发）", "Scan the verifier's challenge (no relaying)")
    val answeringChallenge get() = t("此码只对扫描的核验方有效。", "This code is good only at the verifier you scanned.")
    val stopEngagement get() = t("改为直接出示", "Show a plain code instead")
    val qrProtected get() = t("此屏幕禁止截屏和录屏", "Screenshots and recording are blocked on this screen")
    val searchHint get() = t("查找服务（如 个体工商户、出生）", "Find a service (e.g. 个体工商户, birth)")
    val bundles get() = t("一件事一次办", "Life events (one application for several services)")
    val byDepartment get() = t("按部门", "By department")
    val noHits get() = t("没有找到相关服务。", "No service matches.")
    val startApplication get() = t("开始申请", "Start the application")
    val checklistTitle get() = t("所需材料（一次性告知）", "What you need (told at once)")
    val submit get() = t("提交", "Submit")
    val submitHint get() = t("填完必填项并处理所有材料后可提交", "Submit opens once every required field and material is done")
    fun submitted(id: String) = t("已提交，办件号 $id", "Submitted as case $id")
    val attach get() = t("上传", "Attach")
    val commit get() = t("告知承诺", "Sign a commitment")
    val defer get() = t("容缺后补", "Supply later")
    val clearMaterial get() = t("撤销", "Undo")
    val addEntry get() = t("添加一项", "Add an entry")
    fun confirmValue(label: String) = t("确认“$label”仍然正确", "Confirm “$label” is still right")
    val confirm get() = t("确认无误", "Confirm")
    val syncNow get() = t("立即同步", "Sync now")
    val noCases get() = t("还没有申请。", "No applications yet.")
    fun receipt(r: String) = t("受理编号 $r", "Receipt $r")
    fun promisedDate(d: String) = t("承诺办结日期 $d", "Promised by $d")
    val provisional get() = t("（暂定：该年度官方日历尚未发布）", "(provisional: no official calendar for that year yet)")
    val overdue get() = t("已超期", "Overdue")
    val neededNow get() = t("现在需要", "Needed now")
    val timeline get() = t("办理进度", "Timeline")
    val drafts get() = t("未完成的申请", "Unfinished applications")

    // ---- case actions (补正, 重新提交, 好差评, 投诉) ----
    val supplyTitle get() = t("补正材料", "Supply what was asked for")
    fun attachedFile(name: String) = t("已附：$name", "Attached: $name")
    val supplyNote get() = t("补充说明（可不填）", "A note (optional)")
    val supplySend get() = t("提交补正", "Send the supplement")
    val supplySent get() = t("补正材料已保存，将随同步发送。", "Supplement saved: it goes with the next sync.")
    val refusedTitle get() = t("平台退回了这次提交", "The platform sent this submission back")
    val resubmit get() = t("重新提交", "Send it again")
    val resubmitted get() = t("已重新提交，将随同步发送。", "Sent again: it goes with the next sync.")
    val discard get() = t("放弃办理", "Give it up")
    val discardReason get() = t("申请人放弃办理", "The applicant gave it up")
    val discarded get() = t("已放弃办理。", "Given up.")
    val rateTitle get() = t("评价本次办理（好差评）", "Rate this service")
    val rateReason get() = t("评价说明（可不填）", "Why (optional)")
    val rateReasonNeeded get() = t("请填写不满意的原因", "Please say what went wrong")
    val rateSend get() = t("提交评价", "Send the rating")
    val rated get() = t("评价已提交，谢谢。", "Rating sent. Thank you.")
    val complainTitle get() = t("投诉（办不成事反映）", "Complain")
    val complainHint get() = t("遇到了什么问题", "What went wrong")
    val complainSend get() = t("提交投诉", "Send the complaint")
    val complained get() = t("投诉已提交，将随同步发送。", "Complaint saved: it goes with the next sync.")
    val resume get() = t("继续填写", "Continue")

    // ---- 核验 (verifying someone's 亮证) ----
    val verifyOpen get() = t("核验他人亮证", "Verify someone's code")
    val verifyTitle get() = t("核验亮证", "Verify a presentation")
    val verifyFor get() = t("核验用途", "Checking for")
    val verifyEngaged get() = t("先出示本机挑战码（防转发）", "Show my challenge first (no relaying)")
    val verifyOneWay get() = t("直接扫码", "Scan directly")
    val verifyShowFirst get() = t("请对方先用掌办扫描此码，再出示亮证码：", "Let the holder scan this first, then show their code:")
    val verifyChallenge get() = t("核验挑战码", "Verifier's challenge code")
    val verifyScan get() = t("扫描亮证码", "Scan the code")
    val verifyPaste get() = t("或粘贴亮证码文本（ZB1:…）", "Or paste the code's text (ZB1:…)")
    val verifyCheck get() = t("核验", "Verify")
    val verifyAccepted get() = t("核验通过", "Valid")
    val verifyRefused get() = t("核验不通过", "Not accepted")
    val verifyDisclosed get() = t("对方披露的信息（仅此）", "What the holder disclosed (only this)")
    fun labelled(label: String, value: String) = t("$label：$value", "$label: $value")
    val verifyUpdateLists get() = t("更新签发机构和注销名单", "Update the issuer and revocation lists")

    // ---- 用证记录 (grants and usage) ----
    val usageOpen get() = t("用证记录与授权", "Usage log and grants")
    val usageTitle get() = t("用证记录", "Usage log")
    val grantsTitle get() = t("授权用证", "Grants")
    val noGrants get() = t("没有授权。", "No grants.")
    fun grantUntil(time: String) = t("有效至 $time", "Valid until $time")
    fun grantRevokedAt(time: String) = t("已于 $time 撤回", "Withdrawn $time")
    val grantExpired get() = t("已过期", "Expired")
    val grantRevoke get() = t("撤回授权", "Withdraw the grant")
    val usageLog get() = t("使用记录（最新在前）", "Every use (newest first)")

    // ---- 待办 ----
    val nothingToDo get() = t("没有需要您处理的事项。", "Nothing needs you right now.")
    val underWay get() = t("办理中", "Under way")
    val licencesExpiring get() = t("证照到期", "Licences expiring")
    fun validUntil(d: String) = t("有效期至 $d", "Valid until $d")
    fun lastSync(t: String) = t("上次同步 $t", "Last synced $t")

    // ---- backup and a new phone (备份与换机, from 设置) ----
    val backupOpen get() = t("备份与换机", "Backup and a new phone")
    val backupIntro get() = t(
        "备份文件用恢复码加密，平台和云盘都读不了。换手机时，用备份文件和恢复码找回全部数据。",
        "The backup file is sealed under your recovery code: neither the platform nor a cloud drive can read it. On a new phone, the file and the code bring everything back.",
    )
    val recoveryCode get() = t("恢复码", "Recovery code")
    val codeNone get() = t("还没有恢复码：先生成恢复码并抄在纸上，才能备份。", "No recovery code yet: make one and write it down before backing up.")
    val codeExists get() = t("已有恢复码（只在生成时显示一次）。", "A recovery code exists (shown only once, when made).")
    val codeMake get() = t("生成恢复码", "Make a recovery code")
    val codeNew get() = t("换一个恢复码", "Make a new recovery code")
    val codeWriteDown get() = t("请抄在纸上，妥善保管（只显示这一次）：", "Write it down on paper and keep it safe (shown only this once):")
    val codeTypeBack get() = t("照纸条输入恢复码核对", "Type the code back from the paper")
    val codeCheck get() = t("核对", "Check")
    val codeChecked get() = t("核对无误：恢复码已抄对。", "Checked: the code on the paper is right.")
    val backupFiles get() = t("备份文件", "Backup files")
    val backupFull get() = t("完整备份", "Full backup")
    val backupChanges get() = t("只备份变化", "Back up the changes")
    fun backupSaved(chainIndex: UInt) = if (chainIndex == 0u) {
        t("已保存完整备份。", "Full backup saved.")
    } else {
        t(
            "已保存第 $chainIndex 个增量：恢复时需要完整备份和它之后的每个增量。",
            "Increment $chainIndex saved: a restore needs the full backup and every increment after it.",
        )
    }

    // ---- finishing the move (完成换机) ----
    val moveFinish get() = t("完成换机", "Finish the move")
    val moveWaiting get() = t(
        "数据已恢复。证照还绑定在旧手机上，待发送的申请也在等待：请让旧手机扫码确认，或到政务服务中心核验身份后输入一次性码。",
        "Your data is back. The licences are still bound to the old phone and the queued applications wait: let the old phone scan this code, or have your identity checked at a service centre and type its one-time code.",
    )
    val moveShowOld get() = t("请旧手机扫描此码", "Let the old phone scan this code")
    val moveScanOld get() = t("扫描旧手机上的确认码", "Scan the old phone's confirmation")
    val moveOneTime get() = t("服务中心给的一次性码", "One-time code from the service centre")
    val moveWithCode get() = t("用一次性码完成换机", "Finish with the one-time code")
    val moveOldPhone get() = t("为新手机授权换机", "Hand over to a new phone")
    val moveScanNew get() = t("扫描新手机上的换机码", "Scan the new phone's code")
    val moveShowNew get() = t("请新手机扫描此码完成换机", "Let the new phone scan this code to finish the move")

    // ---- restore on a new phone (换机恢复, the first start) ----
    val restoreTitle get() = t("换机恢复", "Restore on a new phone")
    val restoreIntro get() = t(
        "换了新手机？选择旧手机的备份文件（完整备份和它之后的增量，可一起选、不分先后），输入恢复码，找回全部数据。第一次用掌办就直接开始。",
        "A new phone? Pick the old phone's backup files (the full backup and the increments after it, all at once, in any order) and type the recovery code to bring everything back. New to Zhangban? Just start.",
    )
    val restorePick get() = t("选择备份文件", "Choose the backup files")
    val restoreFresh get() = t("第一次使用，直接开始", "I'm new: start")
    fun restoreMadeAt(time: String) = t("最新一份制作于 $time", "The newest was made $time")
    val restoreCheckedNewest get() = t(
        "已与平台核对：没有比它更新的备份。",
        "Checked with the platform: there is no newer backup.",
    )
    val restoreOffline get() = t(
        "没有网络，未能与平台核对是否有更新的备份：请确认这是最新的备份。",
        "Offline: not checked with the platform for a newer backup. Make sure this is your latest.",
    )
    val restoreCode get() = t("恢复码（抄在纸上的那一串）", "Recovery code (as written on the paper)")
    val restoreRun get() = t("恢复", "Restore")

    // ---- the principal's phone (委托人): big text, plain words ----
    val myDelegations get() = t("我的委托", "Who may act for me")
    val scanAgent get() = t("委托帮办员：扫帮办员的二维码", "Authorise an agent: scan the agent's code")
    val pasteAgentCode get() = t("帮办员二维码的文字（ZBA1:…）", "The text of the agent's code (ZBA1:…)")
    val next get() = t("下一步", "Next")
    val showCode get() = t("出示委托码", "Show the code")
    val revoke get() = t("撤销", "Revoke")
    val revokeQuestion get() = t("撤销后，这位帮办员不能再为您办事。确定撤销吗？", "After this the agent can no longer act for you. Revoke?")
    val revokeYes get() = t("确定撤销", "Yes, revoke")
    val revokeNo get() = t("不撤销", "No, keep it")
    val whatAgentsDid get() = t("帮办员为您办了什么", "What agents did for you")
    val delegateTitle get() = t("委托帮办员", "Authorise an agent")
    val whoAmI get() = t("委托人（您本人）", "You (the principal)")
    val yourName get() = t("您的姓名", "Your name")
    val yourIdNumber get() = t("您的身份证号", "Your ID number")
    val whichItems get() = t("请帮办员办哪些事？", "Which services should the agent apply for?")
    val whichActions get() = t("帮办员可以做什么？", "What may the agent do?")
    val whichElements get() = t("帮办员可以用您证照上的哪些信息？", "Which details of your licences may the agent use?")
    val howLong get() = t("委托多久？", "For how long?")
    val pleaseRead get() = t("请读一遍：", "Please read this:")
    val readThenSign get() = t("下一步：读一遍，再签名", "Next: read it, then sign")
    val changeChoices get() = t("返回修改", "Back: change it")
    val signDelegation get() = t("同意，签名并生成委托码", "I agree: sign and make the code")
    val agentScansThis get() = t("请帮办员扫这个码", "Let the agent scan this code")
    val delegationCode get() = t("委托码", "Delegation code")
    val done get() = t("完成", "Done")
    val agentModeTitle get() = t("帮办代办", "Agent mode (帮办代办)")
    val openMyDelegations get() = t("我的委托（谁可以替我办事）", "Who may act for me")
    val openAgentMode get() = t("我是帮办员", "I am an agent")
    val scanDelegation get() = t("扫委托人的委托码", "Scan a principal's delegation code")
    val pasteDelegation get() = t("委托码的文字（ZBD1:…）", "The text of the delegation code (ZBD1:…)")

    // ---- agent mode (帮办代办) ----
    val agentHome get() = t("帮办代办：我服务的委托人", "Agent mode: my principals")
    val noPrincipals get() = t("还没有委托人。请委托人扫码授权，或上门受理。", "No principals yet: scan a delegation, or start a door intake.")
    val doorIntake get() = t("上门受理（委托人没有手机）", "Door intake (principal without a phone)")
    val myAgentCard get() = t("我的帮办员证", "My agent card")
    val agentCardScan get() = t("请委托人用手机扫这个码，再授权给您。", "Let the principal scan this code with their phone, then authorise you.")
    val agentRegisterTitle get() = t("注册为帮办员", "Register as an agent")
    val agentRegisterWhy get() = t(
        "本机还没有帮办员证。请填写服务机构为您登记的姓名和机构代码，平台核对后签发。",
        "This phone has no agent card yet. Enter your name and your organisation's code as it registered you; the platform checks them and issues the card.",
    )
    val agentName get() = t("姓名", "Name")
    val agentOrgCode get() = t("服务机构的统一社会信用代码", "Organisation's unified social credit code")
    val agentRegister get() = t("注册", "Register")
    val principalName get() = t("委托人姓名", "Principal's name")
    val principalId get() = t("委托人身份证号", "Principal's ID number")
    val openIntake get() = t("开始上门受理", "Start the door intake")
    val captureIdPhoto get() = t("拍身份证", "Photograph the ID card")
    val capturePhoto get() = t("拍委托人本人", "Photograph the principal")
    val captureSignature get() = t("委托人手写签名", "The principal's signature")
    val captured get() = t("已采集", "captured")
    val itemsToCover get() = t("代办事项（可上门办理的）", "Items to apply for (offered at home)")
    val readOut get() = t("请向委托人宣读（大字）：", "Read this out to the principal (large text):")
    val saveConsent get() = t("委托人已同意，保存上门确认", "The principal agreed: save the door consent")
    val canApplyFor get() = t("可代为办理", "May apply for")
    fun startFor(item: String) = t("开始申请：$item", "Start: $item")
    val reviewWithPrincipal get() = t("交委托人核对", "Review with the principal")
    val confirmTitle get() = t("请委托人核对以下内容", "The principal checks this")
    val principalSigns get() = t("委托人签名确认", "The principal signs to confirm")
    val principalConfirmed get() = t("委托人已确认", "The principal confirmed")
    val submitForPrincipal get() = t("代为提交", "Submit for the principal")
}

@Composable
fun chrome(): Chrome = Chrome(LocalLang.current)
