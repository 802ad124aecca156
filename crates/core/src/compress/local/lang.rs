//! The fixed text of the local compressor's observations and summaries, in the languages it knows
//! ([`crate::settings::LOCAL_LANGUAGES`]); any other language falls back to English.
//!
//! Templates take positional arguments `{0}`, `{1}`… so that a language can reorder them.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    En,
    Zh,
}

/// Every fixed phrase, by what it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum M {
    // Titles.
    TitleFixed,
    TitleFixedBy,
    TitleCreated,
    TitleChanged,
    InFiles,
    TitleTestsPass,
    TitleTestsFail,
    TitleBuildOk,
    TitleBuildFail,
    TitleLintOk,
    TitleLintFail,
    TitleFormatted,
    TitleRan,
    TitleRanFail,
    TitlePushed,
    TitlePushRejected,
    TitleTagged,
    TitlePr,
    TitleMerged,
    TitleDeps,
    TitleDepsInstalled,
    TitleDepsFail,
    TitleMigrated,
    TitleMigrateFail,
    TitleDeployed,
    TitleDeployFail,
    TitleExplored,
    TitleDelegated,
    TitleUsed,
    TitleFileToolFail,
    TitleRisky,
    TitleSecret,
    // Title endings: how the work ended.
    EndTestsPass,
    EndTestsFail,
    EndBuildFail,
    EndCheckPass,
    EndCheckFail,
    // Narrative sentences.
    Request,
    Edited,
    Created,
    Touches,
    Read,
    Searched,
    Researched,
    Delegated,
    RanCommands,
    FixedByEdit,
    FixedByCommand,
    PassedOnRerun,
    StillFails,
    Committed,
    Pushed,
    CheckPasses,
    // Facts.
    FactRan,
    FactFailed,
    FactCmdFailed,
    FactPassed,
    FactOk,
    FactRerun,
    FactFixed,
    FactCommit,
    FactPushed,
    FactPackages,
    FactTestFailed,
    FactDecision,
    FactSearch,
    FactWrote,
    FactAdded,
    FactRemoved,
    FactChanged,
    FactOutput,
    FactShowed,
    FactReported,
    FactSubagent,
    FactFetched,
    FactSecret,
    FactRisk,
    // Risks.
    RiskPipeToShell,
    RiskWorldWritable,
    RiskTlsDisabled,
    RiskHostKey,
    RiskForcePush,
    RiskRemoveRoot,
    // Where a secret was seen.
    WhereOutput,
    WhereInput,
    // Summaries.
    SumRead,
    SumSearched,
    SumRan,
    SumLastWord,
    SumLearnedFix,
    SumResolve,
    // Lists.
    AndMore,
}

impl Lang {
    /// From `compression.language` (a BCP-47 tag, or just its primary subtag).
    pub fn from_code(code: &str) -> Self {
        let primary = code
            .trim()
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Lang::Zh,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    pub fn t(self, m: M) -> &'static str {
        match self {
            Lang::En => en(m),
            Lang::Zh => zh(m),
        }
    }

    /// The template of `m` with its `{n}` filled from `args`.
    pub fn f(self, m: M, args: &[&str]) -> String {
        fill(self.t(m), args)
    }

    /// `a, b and 3 more` / `a、b 等 5 项`.
    pub fn list(self, items: &[String], max: usize) -> String {
        let sep = match self {
            Lang::En => ", ",
            Lang::Zh => "、",
        };
        match items.len() {
            0 => String::new(),
            n if n <= max => items.join(sep),
            n => self.f(
                M::AndMore,
                &[
                    &items[..max].join(sep),
                    &(n - max).to_string(),
                    &n.to_string(),
                ],
            ),
        }
    }

    /// Joins clauses into one sentence: capitalised and closed in English, `；`/`。` in Chinese.
    pub fn sentence(self, parts: &[String]) -> String {
        let parts: Vec<&str> = parts
            .iter()
            .map(|p| p.trim().trim_end_matches(['.', '。']))
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            return String::new();
        }
        match self {
            Lang::En => {
                let s = parts.join("; ");
                let mut chars = s.chars();
                let first = chars.next().map(|c| c.to_uppercase().to_string());
                format!("{}{}.", first.unwrap_or_default(), chars.as_str())
            }
            Lang::Zh => format!("{}。", parts.join("；")),
        }
    }

    /// Ends a sentence.
    pub fn stop(self) -> &'static str {
        match self {
            Lang::En => ". ",
            Lang::Zh => "。",
        }
    }
}

const ALL: [Lang; 2] = [Lang::En, Lang::Zh];

/// The command of a command card's first fact ("ran `…`", "运行 `…`"), whatever language wrote it.
pub fn ran_command(fact: &str) -> Option<&str> {
    ALL.iter().find_map(|l| {
        let (pre, post) = l.t(M::FactRan).split_once("{0}")?;
        fact.strip_prefix(pre)?.strip_suffix(post).map(str::trim)
    })
}

/// Whether a title is an edit card's ("Changed …", "Created …", "修改 …", "新建 …"), in any language.
pub fn is_edit_title(title: &str) -> bool {
    ALL.iter().any(|l| {
        [M::TitleChanged, M::TitleCreated].iter().any(|&m| {
            l.t(m)
                .split_once("{0}")
                .is_some_and(|(pre, _)| !pre.is_empty() && title.starts_with(pre))
        })
    })
}

/// Whether a title is a look-around card's about `file` alone ("Explored src/a.rs", "查看了 src/a.rs").
pub fn is_explored_title(title: &str, file: &str) -> bool {
    ALL.iter().any(|l| l.f(M::TitleExplored, &[file]) == title)
}

pub fn fill(template: &str, args: &[&str]) -> String {
    let mut out =
        String::with_capacity(template.len() + args.iter().map(|a| a.len()).sum::<usize>());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if after[..close].parse::<usize>().is_ok() => {
                let n: usize = after[..close].parse().unwrap_or(0);
                out.push_str(args.get(n).copied().unwrap_or(""));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn en(m: M) -> &'static str {
    match m {
        M::TitleFixed => "Fixed {0} in {1}",
        M::TitleFixedBy => "Fixed {0} with `{1}`",
        M::TitleCreated => "Created {0}",
        M::TitleChanged => "Changed {0}",
        M::InFiles => "{0} in {1}",
        M::TitleTestsPass => "Tests pass: `{0}`",
        M::TitleTestsFail => "Tests fail: `{0}` — {1}",
        M::TitleBuildOk => "Build ok: `{0}`",
        M::TitleBuildFail => "Build fails: `{0}` — {1}",
        M::TitleLintOk => "Checks clean: `{0}`",
        M::TitleLintFail => "Checks fail: `{0}` — {1}",
        M::TitleFormatted => "Formatted code: `{0}`",
        M::TitleRan => "Ran `{0}`",
        M::TitleRanFail => "`{0}` failed: {1}",
        M::TitlePushed => "Pushed to {0}",
        M::TitlePushRejected => "Push {0} rejected: {1}",
        M::TitleTagged => "Tagged {0}",
        M::TitlePr => "Opened pull request: {0}",
        M::TitleMerged => "Ran `{0}`",
        M::TitleDeps => "Added dependencies {0} ({1})",
        M::TitleDepsInstalled => "Installed dependencies: `{0}`",
        M::TitleDepsFail => "Dependency install failed: `{0}` — {1}",
        M::TitleMigrated => "Ran database migration: `{0}`",
        M::TitleMigrateFail => "Migration failed: `{0}` — {1}",
        M::TitleDeployed => "Deployed: `{0}`",
        M::TitleDeployFail => "Deploy failed: `{0}` — {1}",
        M::TitleExplored => "Explored {0}",
        M::TitleDelegated => "Delegated: {0}",
        M::TitleUsed => "Used {0}",
        M::TitleFileToolFail => "{0} {1} failed: {2}",
        M::TitleRisky => "Risky command: {0} (`{1}`)",
        M::TitleSecret => "Secret redacted ({0}) in {1}",
        M::EndTestsPass => " — tests pass",
        M::EndTestsFail => " — tests fail: {0}",
        M::EndBuildFail => " — build fails: {0}",
        M::EndCheckPass => " — `{0}` passes",
        M::EndCheckFail => " — `{0}` fails: {1}",
        M::Request => "Request: \"{0}\"",
        M::Edited => "Edited {0}",
        M::Created => "Created {0}",
        M::Touches => "touching {0}",
        M::Read => "Read {0}",
        M::Searched => "Searched for {0}",
        M::Researched => "Looked up {0}",
        M::Delegated => "Delegated \"{0}\" to a subagent: {1}",
        M::RanCommands => "Ran {0}",
        M::FixedByEdit => "`{0}` failed ({1}) and passed after the edits",
        M::FixedByCommand => "`{0}` failed ({1}) and passed after `{2}`",
        M::PassedOnRerun => "`{0}` failed once ({1}) and passed on a rerun with no change",
        M::StillFails => "`{0}` still fails: {1}",
        M::Committed => "Committed \"{0}\"",
        M::Pushed => "pushed to {0}",
        M::CheckPasses => "`{0}` passes ({1})",
        M::FactRan => "ran `{0}`",
        M::FactFailed => "failed: {0}",
        M::FactCmdFailed => "`{0}` failed: {1}",
        M::FactPassed => "`{0}` passed: {1}",
        M::FactOk => "`{0}` ok",
        M::FactRerun => "`{0}` ran {1}× ({2} failed), last: {3}",
        M::FactFixed => "fixed `{0}`: failed before ({1}), passed after",
        M::FactCommit => "commit: {0}",
        M::FactPushed => "pushed: {0}",
        M::FactPackages => "packages: {0}",
        M::FactTestFailed => "failing test: {0}",
        M::FactDecision => "decision: {0}",
        M::FactSearch => "searched `{0}`: {1}",
        M::FactWrote => "{0}: wrote {1} lines: `{2}`",
        M::FactAdded => "{0}: added `{1}`",
        M::FactRemoved => "{0}: removed `{1}`",
        M::FactChanged => "{0}: `{1}` → `{2}`",
        M::FactOutput => "`{0}` → {1}",
        M::FactShowed => "`{0}` showed: {1}",
        M::FactReported => "`{0}` reported: {1}",
        M::FactSubagent => "subagent ({0}): {1}",
        M::FactFetched => "{0}: {1}",
        M::FactSecret => "secret redacted: {0} (in {1})",
        M::FactRisk => "risk: {0} — `{1}`",
        M::RiskPipeToShell => "a download piped into a shell",
        M::RiskWorldWritable => "world-writable permissions",
        M::RiskTlsDisabled => "TLS certificate checks turned off",
        M::RiskHostKey => "SSH host key checks turned off",
        M::RiskForcePush => "force-push to the main branch",
        M::RiskRemoveRoot => "recursive delete of a root or home directory",
        M::WhereOutput => "the output of `{0}`",
        M::WhereInput => "the input of {0}",
        M::SumRead => "read {0}",
        M::SumSearched => "searched for {0}",
        M::SumRan => "ran {0}",
        M::SumLastWord => "Claude's last word: {0}",
        M::SumLearnedFix => "{0}",
        M::SumResolve => "resolve: {0}",
        M::AndMore => "{0} and {1} more",
    }
}

fn zh(m: M) -> &'static str {
    match m {
        M::TitleFixed => "修复了 {1} 中的 {0}",
        M::TitleFixedBy => "用 `{1}` 修复了 {0}",
        M::TitleCreated => "新建 {0}",
        M::TitleChanged => "修改 {0}",
        M::InFiles => "{1} 中的 {0}",
        M::TitleTestsPass => "测试通过：`{0}`",
        M::TitleTestsFail => "测试失败：`{0}` — {1}",
        M::TitleBuildOk => "构建成功：`{0}`",
        M::TitleBuildFail => "构建失败：`{0}` — {1}",
        M::TitleLintOk => "检查通过：`{0}`",
        M::TitleLintFail => "检查失败：`{0}` — {1}",
        M::TitleFormatted => "格式化代码：`{0}`",
        M::TitleRan => "运行 `{0}`",
        M::TitleRanFail => "`{0}` 失败：{1}",
        M::TitlePushed => "推送到 {0}",
        M::TitlePushRejected => "推送 {0} 被拒绝：{1}",
        M::TitleTagged => "打标签 {0}",
        M::TitlePr => "创建拉取请求：{0}",
        M::TitleMerged => "运行 `{0}`",
        M::TitleDeps => "添加依赖 {0}（{1}）",
        M::TitleDepsInstalled => "安装依赖：`{0}`",
        M::TitleDepsFail => "依赖安装失败：`{0}` — {1}",
        M::TitleMigrated => "执行数据库迁移：`{0}`",
        M::TitleMigrateFail => "数据库迁移失败：`{0}` — {1}",
        M::TitleDeployed => "已部署：`{0}`",
        M::TitleDeployFail => "部署失败：`{0}` — {1}",
        M::TitleExplored => "查看了 {0}",
        M::TitleDelegated => "委派子任务：{0}",
        M::TitleUsed => "使用 {0}",
        M::TitleFileToolFail => "{0} {1} 失败：{2}",
        M::TitleRisky => "高风险命令：{0}（`{1}`）",
        M::TitleSecret => "{1} 中的密钥已脱敏（{0}）",
        M::EndTestsPass => " — 测试通过",
        M::EndTestsFail => " — 测试失败：{0}",
        M::EndBuildFail => " — 构建失败：{0}",
        M::EndCheckPass => " — `{0}` 通过",
        M::EndCheckFail => " — `{0}` 失败：{1}",
        M::Request => "请求：“{0}”",
        M::Edited => "修改了 {0}",
        M::Created => "新建了 {0}",
        M::Touches => "涉及 {0}",
        M::Read => "阅读了 {0}",
        M::Searched => "搜索了 {0}",
        M::Researched => "查阅了 {0}",
        M::Delegated => "把“{0}”交给子代理：{1}",
        M::RanCommands => "运行了 {0}",
        M::FixedByEdit => "`{0}` 先失败（{1}），修改后通过",
        M::FixedByCommand => "`{0}` 先失败（{1}），在 `{2}` 之后通过",
        M::PassedOnRerun => "`{0}` 失败一次（{1}），未做修改重跑后通过",
        M::StillFails => "`{0}` 仍然失败：{1}",
        M::Committed => "提交了“{0}”",
        M::Pushed => "推送到 {0}",
        M::CheckPasses => "`{0}` 通过（{1}）",
        M::FactRan => "运行 `{0}`",
        M::FactFailed => "失败：{0}",
        M::FactCmdFailed => "`{0}` 失败：{1}",
        M::FactPassed => "`{0}` 通过：{1}",
        M::FactOk => "`{0}` 成功",
        M::FactRerun => "`{0}` 运行 {1} 次（{2} 次失败），最后：{3}",
        M::FactFixed => "修复 `{0}`：之前失败（{1}），之后通过",
        M::FactCommit => "提交：{0}",
        M::FactPushed => "推送：{0}",
        M::FactPackages => "依赖：{0}",
        M::FactTestFailed => "失败的测试：{0}",
        M::FactDecision => "决定：{0}",
        M::FactSearch => "搜索 `{0}`：{1}",
        M::FactWrote => "{0}：写入 {1} 行：`{2}`",
        M::FactAdded => "{0}：新增 `{1}`",
        M::FactRemoved => "{0}：删除 `{1}`",
        M::FactChanged => "{0}：`{1}` → `{2}`",
        M::FactOutput => "`{0}` → {1}",
        M::FactShowed => "`{0}` 输出：{1}",
        M::FactReported => "`{0}` 报告：{1}",
        M::FactSubagent => "子代理（{0}）：{1}",
        M::FactFetched => "{0}：{1}",
        M::FactSecret => "已脱敏的密钥：{0}（位于 {1}）",
        M::FactRisk => "风险：{0} — `{1}`",
        M::RiskPipeToShell => "把下载内容直接交给 shell 执行",
        M::RiskWorldWritable => "所有人可写的权限",
        M::RiskTlsDisabled => "关闭了 TLS 证书校验",
        M::RiskHostKey => "关闭了 SSH 主机密钥校验",
        M::RiskForcePush => "强制推送到主分支",
        M::RiskRemoveRoot => "递归删除根目录或主目录",
        M::WhereOutput => "`{0}` 的输出",
        M::WhereInput => "{0} 的输入",
        M::SumRead => "阅读了 {0}",
        M::SumSearched => "搜索了 {0}",
        M::SumRan => "运行了 {0}",
        M::SumLastWord => "Claude 最后说：{0}",
        M::SumLearnedFix => "{0}",
        M::SumResolve => "待解决：{0}",
        M::AndMore => "{0} 等 {2} 项",
    }
}
