// The web pages' languages: English (the text as written) and Simplified Chinese. The page
// speaks the user's language once logged on (an administrator sets it: ModifyUser Language,
// or the console's user form), before that the browser's. Static text is translated where it
// stands (each text node whose words are a key below); scripts translate what they write with
// tx(words, ...values), where {0}, {1}... in the words stand for the values. Words without a
// translation (the server's own messages) are shown as they are.
'use strict';

const ZH_CN = {
  // the portal page
  'Portunus O&M portal': 'Portunus 运维门户',
  'Administrator console': '管理控制台',
  'Log out': '退出登录',
  'Log on to the O&M portal': '登录运维门户',
  'User name': '用户名',
  'Password': '密码',
  'Log on': '登录',
  'Log on with single sign-on': '单点登录',
  'Enter the code your authenticator shows (or a recovery code).': '请输入身份验证器显示的验证码（或恢复码）。',
  'Verification code': '验证码',
  'Verify': '验证',
  'Start again': '重新开始',
  'Hosts': '主机',
  'Databases': '数据库',
  'My AccessKeys': '我的 AccessKey',
  'Device settings': '设备设置',
  'Host': '主机',
  'Address': '地址',
  'Remote connection': '远程连接',
  'Database': '数据库',
  'Engine': '引擎',
  'AccessKeys let the Bastionhost SDK and API act as you (for example to apply for O&M tokens from a script). A key\'s secret is shown once, when it is made.':
    'AccessKey 让堡垒机 SDK 和 API 以您的身份操作（例如在脚本中申请运维令牌）。密钥的 Secret 只在创建时显示一次。',
  'AccessKey ID': 'AccessKey ID',
  'Comment': '备注',
  'Created': '创建时间',
  'Create AccessKey': '创建 AccessKey',
  'Keep the secret now: it is not shown again.': '请立即保存 Secret：它不会再次显示。',
  'AccessKey secret': 'AccessKey Secret',
  'Save': '保存',
  'Back to the portal': '返回门户',
  'Database (schema)': '数据库（Schema）',
  'Password of the database account': '数据库账号的密码',
  'Connect': '连接',
  'Run (Ctrl+Enter)': '执行（Ctrl+Enter）',
  'Statements run through the bastion: its SQL rules apply and each is audited under your name.':
    '语句经由堡垒机执行：SQL 规则生效，每条语句都以您的身份审计。',
  'O&M Token': '运维令牌',
  'Client SSH Tunnel Configuration': '客户端 SSH 隧道配置',
  'O&M address': '运维地址',
  'Port': '端口',
  'O&M token': '运维令牌',
  'Expires': '过期时间',
  'Uses left': '剩余次数',
  '1. Open the tunnel': '1. 打开隧道',
  'Copy': '复制',
  'When asked for a password, enter the O&M token. The command then waits: that is expected.':
    '提示输入密码时，请输入运维令牌。之后命令会保持等待：这是正常的。',
  '2. Connect through it, in a second terminal': '2. 在另一个终端中通过隧道连接',
  'The account\'s password is hosted by the bastion: leave it blank.': '该账号的密码由堡垒机托管：请留空。',
  'Close': '关闭',
  // written by the portal's script
  'No accounts authorized': '没有已授权的账号',
  'Terminal as {0}': '以 {0} 打开终端',
  'Open in local client ({0})': '用本地客户端打开（{0}）',
  'Apply for O&M token ({0})': '申请运维令牌（{0}）',
  'SQL console ({0})': 'SQL 控制台（{0}）',
  'SFTP only': '仅 SFTP',
  'Delete': '删除',
  'connecting…': '正在连接…',
  'connected (session {0})': '已连接（会话 {0}）',
  'ended: {0}': '已结束：{0}',
  'disconnected: the bastion node went away': '已断开：堡垒机节点已离开',
  'the account\'s password is hosted by the bastion': '该账号的密码由堡垒机托管',
  'type the account\'s password': '请输入该账号的密码',
  'running…': '正在执行…',
  'done in {0} ms': '用时 {0} 毫秒',
  '{0} row(s)': '{0} 行',
  '{0} row(s) ({1} are shown)': '{0} 行（显示前 {1} 行）',
  '{0} row(s) affected': '影响 {0} 行',
  'Previous': '上一页',
  'Next': '下一页',
  'page {0} of {1}': '第 {0} 页，共 {1} 页',
  'Saved for this browser.': '已为此浏览器保存。',
};

const LANGUAGES = { 'zh-cn': ZH_CN };
const BROWSER_LANGUAGE = (navigator.language || '').toLowerCase().startsWith('zh') ? 'zh-cn' : 'en';
const ENGLISH_TITLE = document.title;
let language = BROWSER_LANGUAGE;

// `words` in the page's language, {0}, {1}... replaced by `values`.
function tx(words, ...values) {
  const table = LANGUAGES[language] || {};
  const said = table[words] !== undefined ? table[words] : words;
  return said.replace(/\{(\d+)\}/g, (m, i) => (values[i] !== undefined ? String(values[i]) : m));
}

// Where the page writes data and messages: never translated in place.
const DATA = 'tbody, dd, pre, script, [role=status], [role=alert], #who, #sql-results, #sql-notices, #terminal';

// The English words of each translated text node, so that the page can switch back.
const englishOf = new WeakMap();

function translateStatic() {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const table = LANGUAGES[language] || {};
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    // What the page writes from the server's data (tables, values, statuses) is left alone.
    if (n.parentElement && n.parentElement.closest(DATA)) continue;
    const english = englishOf.get(n) || n.nodeValue.replace(/\s+/g, ' ').trim();
    if (!english || (table[english] === undefined && !englishOf.has(n))) continue;
    englishOf.set(n, english);
    const lead = n.nodeValue.match(/^\s*/)[0] ? ' ' : '';
    const tail = n.nodeValue.match(/\s*$/)[0] ? ' ' : '';
    n.nodeValue = lead + (table[english] !== undefined ? table[english] : english) + tail;
  }
  for (const e of document.querySelectorAll('[placeholder]')) {
    if (!e.dataset.english) e.dataset.english = e.placeholder;
    e.placeholder = tx(e.dataset.english);
  }
  document.title = tx(ENGLISH_TITLE);
}

// Switches the page to `lang` (`en`, `zh-cn`; anything else: the browser's language).
function setLanguage(lang) {
  language = lang === 'en' || lang in LANGUAGES ? lang : BROWSER_LANGUAGE;
  document.documentElement.lang = language === 'zh-cn' ? 'zh-CN' : 'en';
  translateStatic();
}

setLanguage(BROWSER_LANGUAGE);
