/** English and Simplified Chinese. The language comes from the browser unless the user picked one. */
const STRINGS = {
  en: {
    'nav.stores': 'Stores',
    'nav.fleet': 'Fleet',
    'nav.models': 'Models',
    logout: 'Sign out',
    'login.title': 'Sign in to storevision',
    'login.hint': 'Paste a hub API token (viewer role or higher).',
    'login.submit': 'Sign in',
    'login.bad': 'This token is not accepted.',
    'stores.title': 'All stores',
    'stores.none': 'No store has reported yet.',
    'col.store': 'Store',
    'col.status': 'Nodes up',
    'col.last': 'Last event',
    'col.in': 'In today',
    'col.out': 'Out today',
    'col.alerts': 'Alerts today',
    'col.trend': 'Footfall, 24 h',
    'stores.compare': 'Footfall in, last 7 days',
    'store.footfallIn': 'Footfall in today',
    'store.footfallOut': 'Footfall out today',
    'store.occupancyNow': 'In the store now',
    'store.alertsToday': 'Alerts today',
    'store.footfallHourly': 'Footfall by hour: today vs same day last week',
    'store.today': 'Today',
    'store.lastWeek': 'Same day last week',
    'store.occupancy': 'Occupancy per zone',
    'store.dwell': 'Dwell per shelf zone (seconds)',
    'store.queue': 'Checkout queue',
    'store.queueLength': 'Queue length',
    'store.queueWait': 'Wait (s)',
    'store.alerts': 'Alerts timeline',
    'store.mean': 'mean',
    'store.cameras': 'Cameras',
    'camera.none': 'No camera has reported in the last 7 days.',
    'camera.unknown': 'No such camera',
    'camera.title': 'Camera',
    'camera.node': 'Edge node',
    'camera.zones': 'Zones: people now',
    'camera.zone': 'Zone',
    'camera.now': 'Now',
    'camera.noZones': 'No occupancy from this camera today.',
    'camera.lines': 'Lines: in and out today',
    'camera.line': 'Line',
    'camera.noLines': 'No line crossings from this camera today.',
    'camera.snapshot': 'Latest picture',
    'camera.noSnapshot':
      'No picture from this camera yet. Edges send one every few seconds for each camera they analyse.',
    'camera.captured': 'Taken',
    'camera.people': 'people',
    'camera.in': 'in',
    'camera.out': 'out',
    'camera.privacy': 'Downscaled at the edge, people blurred; only the latest picture is kept.',
    'camera.privacyPlain': 'Downscaled at the edge; only the latest picture is kept.',
    'fleet.title': 'Fleet',
    'fleet.node': 'Node',
    'fleet.seen': 'Last seen',
    'fleet.backlog': 'Outbox backlog',
    'fleet.labels': 'Hardware / labels',
    'models.rollouts': 'Rollouts',
    'models.version': 'Version',
    'models.state': 'State',
    'models.wave': 'Wave',
    'models.stores': 'Stores',
    'models.title': 'Models',
    'models.name': 'Model',
    'models.latest': 'Latest version',
    'models.aliases': 'Aliases',
    'models.versions': 'Versions',
    never: 'never',
    timezone: 'Time zone',
    live: 'live',
  },
  zh: {
    'nav.stores': '门店',
    'nav.fleet': '设备',
    'nav.models': '模型',
    logout: '退出',
    'login.title': '登录 storevision',
    'login.hint': '请粘贴 Hub API 令牌（查看者或更高权限）。',
    'login.submit': '登录',
    'login.bad': '令牌无效。',
    'stores.title': '全部门店',
    'stores.none': '还没有门店上报数据。',
    'col.store': '门店',
    'col.status': '在线节点',
    'col.last': '最近事件',
    'col.in': '今日进店',
    'col.out': '今日离店',
    'col.alerts': '今日告警',
    'col.trend': '24 小时客流',
    'stores.compare': '近 7 天进店客流',
    'store.footfallIn': '今日进店客流',
    'store.footfallOut': '今日离店客流',
    'store.occupancyNow': '当前店内人数',
    'store.alertsToday': '今日告警',
    'store.footfallHourly': '每小时客流：今天与上周同日',
    'store.today': '今天',
    'store.lastWeek': '上周同日',
    'store.occupancy': '各区域人数',
    'store.dwell': '货架区停留时长（秒）',
    'store.queue': '收银排队',
    'store.queueLength': '排队人数',
    'store.queueWait': '等待（秒）',
    'store.alerts': '告警时间线',
    'store.mean': '平均',
    'store.cameras': '摄像头',
    'camera.none': '最近 7 天没有摄像头上报。',
    'camera.unknown': '没有这个摄像头',
    'camera.title': '摄像头',
    'camera.node': '边缘节点',
    'camera.zones': '区域：当前人数',
    'camera.zone': '区域',
    'camera.now': '当前',
    'camera.noZones': '此摄像头今天没有人数数据。',
    'camera.lines': '计数线：今日进出',
    'camera.line': '计数线',
    'camera.noLines': '此摄像头今天没有过线数据。',
    'camera.snapshot': '最新画面',
    'camera.noSnapshot': '此摄像头还没有画面。边缘节点每隔几秒为其分析的每个摄像头上传一张。',
    'camera.captured': '拍摄于',
    'camera.people': '人',
    'camera.in': '进',
    'camera.out': '出',
    'camera.privacy': '画面在边缘节点缩小，人物已模糊处理；只保留最新一张。',
    'camera.privacyPlain': '画面在边缘节点缩小；只保留最新一张。',
    'fleet.title': '设备',
    'fleet.node': '节点',
    'fleet.seen': '最近在线',
    'fleet.backlog': '待上传事件',
    'fleet.labels': '硬件 / 标签',
    'models.rollouts': '灰度发布',
    'models.version': '版本',
    'models.state': '状态',
    'models.wave': '批次',
    'models.stores': '门店',
    'models.title': '模型',
    'models.name': '模型',
    'models.latest': '最新版本',
    'models.aliases': '别名',
    'models.versions': '版本数',
    never: '从未',
    timezone: '时区',
    live: '实时',
  },
};

export function initialLang() {
  const saved = localStorage.getItem('sv_lang');
  if (saved === 'en' || saved === 'zh') return saved;
  return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

let lang = 'en';

export function setLang(l) {
  lang = l;
  localStorage.setItem('sv_lang', l);
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}

export const getLang = () => lang;

export function t(key) {
  return STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
}

/** A date-time in the store's time zone, in the user's language. */
export function formatTime(iso, timeZone, opts = { dateStyle: 'short', timeStyle: 'short' }) {
  if (!iso) return t('never');
  return new Intl.DateTimeFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', { ...opts, timeZone }).format(
    new Date(iso),
  );
}

export function formatNumber(n, digits = 0) {
  if (n === null || n === undefined) return '–';
  return new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-GB', { maximumFractionDigits: digits }).format(
    n,
  );
}
