// Regenerates exchange_rates.csv (illustrative values, not official customs rates):
//   node src/policy/defaults/make-exchange-rates.mjs > src/policy/defaults/exchange_rates.csv
// Deterministic: each currency drifts smoothly around a base value; rounded to `dp` decimals.
const currencies = [
  // code, ISO, base CNY per unit, amplitude, period (months), phase, decimals
  ['110', 'HKD', 0.92, 0.012, 41, 0.3, 4],
  ['116', 'JPY', 0.056, 0.007, 53, 1.1, 6],
  ['132', 'SGD', 5.3, 0.12, 47, 2.0, 4],
  ['300', 'EUR', 7.75, 0.22, 37, 0.7, 4],
  ['303', 'GBP', 8.95, 0.28, 43, 1.9, 4],
  ['501', 'CAD', 5.22, 0.15, 39, 2.6, 4],
  ['502', 'USD', 7.2, 0.07, 41, 0.3, 4],
  ['601', 'AUD', 4.8, 0.18, 45, 3.1, 4],
];
const lines = [
  '# ILLUSTRATIVE DATA — not official customs values; replace with --reference DIR',
  'currency,month,cny_per_unit',
];
for (const [code, , base, amp, period, phase, dp] of currencies) {
  for (let y = 2020; y <= 2027; y++) {
    for (let m = 1; m <= 12; m++) {
      const t = (y - 2020) * 12 + (m - 1);
      const v = base + amp * Math.sin((2 * Math.PI * t) / period + phase) + (amp / 4) * Math.sin((2 * Math.PI * t) / 11);
      lines.push(`${code},${y}-${String(m).padStart(2, '0')},${v.toFixed(dp)}`);
    }
  }
}
process.stdout.write(lines.join('\n') + '\n');
