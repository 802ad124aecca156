import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { applyTheme, loadTheme } from './lib/theme';

// Before the first paint: a chosen theme must not flash the other one.
applyTheme(loadTheme());

const target = document.getElementById('app');
if (!target) throw new Error('#app missing');
export default mount(App, { target });
