/**
 * The synthetic world a generated day is drawn from: platforms, e-commerce enterprises, declaring
 * agents, carriers, customs offices and a goods catalogue. All names and codes are invented.
 */
import type { Reference } from '../policy/reference.js';
import { Rng } from './random.js';

export interface Party {
  code: string;
  name: string;
}

export interface Good {
  itemNo: string;
  itemName: string;
  gcode: string;
  gname: string;
  gmodel: string;
  unit: string;
  unit1: string;
  /** Typical unit price in CNY (min, max). */
  price: readonly [number, number];
  /** Net kg per unit. */
  kg: number;
  barCode: string;
}

const CITY = ['4403', '4401', '3301', '3101', '3702', '4101', '3502', '4419', '3302', '4406'];
const ALNUM = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const SURNAME = ['海星', '卓凯', '迅达', '华南', '锦程', '恒通', '凯越', '星河', '远航', '金桥', '瑞丰', '宏图', '天行', '嘉禾', '联创', '博远'];
const TRADE = ['数码科技', '服饰', '贸易', '电子', '家居用品', '进出口', '供应链', '科技', '日用品', '工艺品'];
const CITY_NAME: Record<string, string> = {
  '4403': '深圳市',
  '4401': '广州市',
  '3301': '杭州市',
  '3101': '上海市',
  '3702': '青岛市',
  '4101': '郑州市',
  '3502': '厦门市',
  '4419': '东莞市',
  '3302': '宁波市',
  '4406': '佛山市',
};

function customsCode10(rng: Rng, kind: string): string {
  let s = rng.pick(CITY) + kind;
  while (s.length < 10) s += rng.pick([...ALNUM]);
  return s;
}

function uscc(rng: Rng): string {
  let s = '91' + rng.pick(CITY) + '00';
  while (s.length < 18) s += rng.pick([...ALNUM]);
  return s;
}

function companyName(rng: Rng, code: string, suffix: string): string {
  const city = CITY_NAME[code.slice(0, 4)] ?? '深圳市';
  return `${city}${rng.pick(SURNAME)}${rng.pick(TRADE)}${suffix}`;
}

export const GOODS: readonly Good[] = [
  { itemNo: 'PC-1001', itemName: '手机保护壳', gcode: '3926909090', gname: '手机保护壳', gmodel: 'TPU塑料|适用6.1英寸手机|无品牌', unit: '011', unit1: '035', price: [9, 45], kg: 0.04, barCode: '6975123400017' },
  { itemNo: 'WS-2002', itemName: '硅胶表带', gcode: '9113900000', gname: '表带', gmodel: '硅胶|22mm|无品牌', unit: '011', unit1: '035', price: [12, 60], kg: 0.03, barCode: '6975123400024' },
  { itemNo: 'TS-3003', itemName: '纯棉T恤', gcode: '6109100021', gname: '棉制针织T恤衫', gmodel: '针织|100%棉|男式|无品牌', unit: '011', unit1: '011', price: [25, 120], kg: 0.2, barCode: '6975123400031' },
  { itemNo: 'SW-3010', itemName: '毛衣', gcode: '6110200090', gname: '棉制针织套头衫', gmodel: '针织|棉|女式|无品牌', unit: '011', unit1: '011', price: [60, 260], kg: 0.45, barCode: '6975123400048' },
  { itemNo: 'TR-3020', itemName: '女士长裤', gcode: '6204620000', gname: '棉制女式长裤', gmodel: '机织|棉|女式|无品牌', unit: '011', unit1: '011', price: [50, 220], kg: 0.4, barCode: '无' },
  { itemNo: 'SH-4001', itemName: '休闲鞋', gcode: '6404199000', gname: '纺织材料制鞋面运动鞋', gmodel: '橡胶底|纺织面|无品牌', unit: '011', unit1: '011', price: [80, 360], kg: 0.7, barCode: '6975123400055' },
  { itemNo: 'HP-5001', itemName: '蓝牙耳机', gcode: '8518300000', gname: '无线耳机', gmodel: '蓝牙5.3|入耳式|无品牌', unit: '011', unit1: '011', price: [40, 300], kg: 0.08, barCode: '6975123400062' },
  { itemNo: 'CH-5002', itemName: '手机充电器', gcode: '8504403000', gname: '充电器', gmodel: '20W|USB-C|无品牌', unit: '011', unit1: '011', price: [20, 90], kg: 0.06, barCode: '6975123400079' },
  { itemNo: 'PH-5003', itemName: '智能手机', gcode: '8517130000', gname: '智能手机', gmodel: '6.5英寸|128GB|无品牌', unit: '011', unit1: '011', price: [400, 1800], kg: 0.2, barCode: '6975123400086' },
  { itemNo: 'BT-5004', itemName: '移动电源', gcode: '8507600090', gname: '锂离子蓄电池', gmodel: '10000mAh|锂离子|无品牌', unit: '011', unit1: '011', price: [50, 200], kg: 0.25, barCode: '6975123400093' },
  { itemNo: 'TY-6001', itemName: '积木玩具', gcode: '9503008900', gname: '塑料积木玩具', gmodel: '塑料|6岁以上|无品牌', unit: '011', unit1: '035', price: [30, 280], kg: 0.5, barCode: '6975123400109' },
  { itemNo: 'BG-6002', itemName: '手提包', gcode: '4202220000', gname: '塑料面手提包', gmodel: 'PU|中号|无品牌', unit: '011', unit1: '011', price: [60, 450], kg: 0.6, barCode: '6975123400116' },
  { itemNo: 'CS-6003', itemName: '口红', gcode: '3304100000', gname: '唇用化妆品', gmodel: '3.5g|哑光|无品牌', unit: '011', unit1: '035', price: [20, 150], kg: 0.02, barCode: '6975123400123' },
  { itemNo: 'JW-6004', itemName: '仿首饰项链', gcode: '7117190000', gname: '贱金属仿首饰', gmodel: '合金|镀金|无品牌', unit: '011', unit1: '035', price: [10, 120], kg: 0.03, barCode: '无' },
  { itemNo: 'WT-6005', itemName: '石英手表', gcode: '9102110000', gname: '电子手表', gmodel: '石英|指针式|无品牌', unit: '011', unit1: '011', price: [80, 900], kg: 0.1, barCode: '6975123400130' },
  { itemNo: 'TX-6006', itemName: '收纳袋', gcode: '6307900090', gname: '纺织制品', gmodel: '涤纶|折叠|无品牌', unit: '011', unit1: '035', price: [8, 40], kg: 0.1, barCode: '6975123400147' },
  { itemNo: 'HD-7001', itemName: '吹风机', gcode: '8516310000', gname: '电吹风机', gmodel: '1200W|折叠|无品牌', unit: '011', unit1: '011', price: [60, 320], kg: 0.55, barCode: '6975123400154' },
  { itemNo: 'LD-7002', itemName: 'LED台灯', gcode: '9405210000', gname: 'LED台灯', gmodel: '5W|USB供电|无品牌', unit: '011', unit1: '011', price: [35, 220], kg: 0.6, barCode: '6975123400161' },
];

export interface World {
  platforms: Party[];
  warehouses: Party[];
  ebcs: Party[];
  agents: Party[];
  carriers: Party[];
  owners: Party[];
  payers: Party[];
  offices: { code: string; weight: number; sites: string[] }[];
  countries: { code: string; weight: number }[];
}

/** Builds the world from the reference data (offices, AEO enterprises) and a fixed catalogue seed. */
export function buildWorld(ref: Reference): World {
  const rng = new Rng('declmatch-world-v1');
  const platforms: Party[] = [
    { code: '4403960PT8', name: '深圳市海星跨境电子商务有限公司' },
    { code: '3301960AL2', name: '杭州市远航跨境电商平台有限公司' },
    { code: '4401960YX5', name: '广州市星河网络科技有限公司' },
    { code: '3101960DH1', name: '上海市嘉禾国际电商有限公司' },
    { code: '3702960QD3', name: '青岛市联创数字贸易有限公司' },
    { code: '91440300MA5GPTF0X1', name: '深圳市天行跨境平台科技有限公司' },
  ];
  const warehouses: Party[] = [
    { code: '无', name: 'Overseas Warehouse LA (D&E Co. fulfilment)' },
    { code: '无', name: 'Rotterdam Fulfilment Centre B.V.' },
    { code: '4403960HW7', name: '深圳市金桥海外仓储有限公司' },
  ];
  const aeoCodes = [...ref.aeo.keys()];
  const ebcs: Party[] = aeoCodes.map((code) => ({ code, name: ref.aeo.get(code) ?? code }));
  for (let i = 0; i < 240; i++) {
    const code = i % 9 === 8 ? uscc(rng) : customsCode10(rng, '96');
    ebcs.push({ code, name: companyName(rng, code, i % 7 === 3 ? '有限公司 & 合伙' : '有限公司') });
  }
  const agents: Party[] = [];
  for (let i = 0; i < 24; i++) {
    const code = customsCode10(rng, '98');
    agents.push({ code, name: companyName(rng, code, '报关有限公司') });
  }
  const carriers: Party[] = [];
  for (let i = 0; i < 10; i++) {
    const code = customsCode10(rng, '96');
    carriers.push({ code, name: companyName(rng, code, '国际物流有限公司') });
  }
  const owners: Party[] = [{ code: 'NO', name: '未在海关注册的生产销售单位' }];
  for (let i = 0; i < 80; i++) {
    const code = customsCode10(rng, '96');
    owners.push({ code, name: companyName(rng, code, '制品有限公司') });
  }
  const payers: Party[] = [
    { code: '312228034T', name: '支付宝（中国）网络技术有限公司' },
    { code: '4403169D3W', name: '财付通支付科技有限公司' },
    { code: '31222699S7', name: '连连银通电子支付有限公司' },
  ];
  const preferred: Record<string, number> = { '5141': 30, '5316': 25, '5208': 15, '2203': 10, '2902': 8, '3102': 6, '4604': 5 };
  const offices = [...ref.customsOffices.keys()]
    .sort()
    .map((code) => ({ code, weight: preferred[code] ?? 1, sites: [`${code}W01`, `${code}W02`] }));
  if (offices.length === 0) throw new Error('customs_offices.csv has no rows: the generator needs at least one office');
  const countries = [
    { code: '502', weight: 35 },
    { code: '304', weight: 10 },
    { code: '303', weight: 8 },
    { code: '116', weight: 8 },
    { code: '133', weight: 6 },
    { code: '601', weight: 6 },
    { code: '501', weight: 5 },
    { code: '132', weight: 4 },
    { code: '305', weight: 4 },
  ];
  return { platforms, warehouses, ebcs, agents, carriers, owners, payers, offices, countries };
}
